"""Sampling accuracy of the meter: achieved rate, interval jitter, and window energy vs the exact value.

Part 1 (rate): one ``replay`` channel on the real monotonic clock, the meter at each rate for
``--duration`` seconds, streaming its trace to a temporary folder. Reported from ``Meter.stats()``
(the interval between the ends of successive polls) and, as an independent check, from the written
trace's ``t_ns`` for that channel: achieved rate, its error vs nominal, interval p50/p99/max and the
number of gaps (intervals over 3x the nominal one).

Part 2 (energy): traces with analytically known energy (steps, 20 ms spikes, a ramp; sampled
every 1 ms with an exact counter) replayed on the real clock, each twice in the same meter: with
the counter, and with power only (``power_only``, so the meter integrates power). Windows of
0.6-1.4 s are opened and closed back to back; each channel's window energy is compared with the
profile's exact energy between that channel's own edge reads (found in the written trace).

Usage::

    python benchmarks/sampling_accuracy.py [--quick] [--out FILE]

JSON goes to stdout (and ``--out``); markdown tables go to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from _machine import machine_info  # noqa: E402  (beside this script)

from bench.clock import MonotonicClock  # noqa: E402  (light: no heavy imports)

SPIKE_WIDTH_S = 0.020


class OriginClock(MonotonicClock):
    """The monotonic clock, remembering its first reading: a replay sampler reads its clock first
    when it is created, so ``first_ns`` is the instant its trace time 0 maps to."""

    def __init__(self) -> None:
        self.first_ns: int | None = None

    def now_ns(self) -> int:
        t = time.monotonic_ns()
        if self.first_ns is None:
            self.first_ns = t
        return t


def profiles(length_s: float):
    """The three reference profiles (power in W over ``length_s`` seconds)."""
    from bench.conformance.traces import ramp, spikes, steps

    levels, t, rng = [], 0.0, random.Random(7)
    while t < length_s:
        levels.append((t, rng.choice([80.0, 150.0, 220.0, 300.0])))
        t += 0.373  # not a multiple of 10 ms: the sampling phase moves from step to step
    return {
        "steps": steps(levels, length_s),
        "spikes_20ms": spikes(100.0, 300.0, 0.137, SPIKE_WIDTH_S, length_s),
        "ramp": ramp(100.0, 300.0, 0.5, length_s - 0.5, length_s),
    }


def interval_stats(t_ns: list[int], rate_hz: float, gap_factor: float = 3.0) -> dict[str, Any]:
    """Rate and interval percentiles of sorted timestamps ``t_ns``."""
    from bench.analysis.stats import percentile

    if len(t_ns) < 2:
        return {"samples": len(t_ns), "achieved_rate_hz": None, "interval_p50_s": None,
                "interval_p99_s": None, "interval_max_s": None, "gaps": 0}
    iv = sorted((b - a) / 1e9 for a, b in zip(t_ns, t_ns[1:]))
    span = (t_ns[-1] - t_ns[0]) / 1e9
    return {"samples": len(t_ns), "achieved_rate_hz": (len(t_ns) - 1) / span,
            "interval_p50_s": percentile(iv, 50), "interval_p99_s": percentile(iv, 99),
            "interval_max_s": iv[-1], "gaps": sum(1 for x in iv if x > gap_factor / rate_hz)}


def channel_times(folder: Path) -> dict[str, list[int]]:
    """Sorted ``t_ns`` per channel of the trace the meter wrote in ``folder``."""
    from bench.result.trace import read_trace

    table = read_trace(folder, ["t_ns", "channel"])
    out: dict[str, list[int]] = {}
    for t, ch in zip(table.column("t_ns").to_pylist(), table.column("channel").to_pylist()):
        out.setdefault(ch, []).append(t)
    return {ch: sorted(ts) for ch, ts in out.items()}


# --- part 1: rate and jitter ---------------------------------------------------------------------


def measure_rate(rate_hz: float, duration_s: float, trace: Path, tmp: Path) -> dict[str, Any]:
    """One replay channel, the meter at ``rate_hz`` for ``duration_s`` seconds."""
    from bench.meter.meter import Meter
    from bench.samplers.replay import ReplaySampler

    sampler = ReplaySampler.open("cpu", trace=trace, loop="true")[0]
    folder = Path(tempfile.mkdtemp(dir=tmp))
    meter = Meter([sampler], rate_hz=rate_hz, folder=folder)
    meter.start()
    time.sleep(duration_s)
    meter.stop()
    stats = meter.stats()
    check = interval_stats(channel_times(folder)[sampler.channel], rate_hz)
    achieved = stats["achieved_rate_hz"]
    return {
        "rate_hz": rate_hz,
        "duration_s": duration_s,
        "meter": stats,
        "trace": check,
        "rate_error_pct": (achieved / rate_hz - 1.0) * 100.0 if achieved else None,
        "trace_rate_error_pct": ((check["achieved_rate_hz"] / rate_hz - 1.0) * 100.0
                                 if check["achieved_rate_hz"] else None),
        "error": str(meter.error) if meter.error is not None else None,
    }


# --- part 2: window energy -----------------------------------------------------------------------


def open_channels(sources: dict[str, Path]) -> list[tuple[str, str, Any, OriginClock]]:
    """(profile, mode, sampler, clock) for each profile, with its counter and with power only."""
    from bench.samplers.replay import ReplaySampler

    out = []
    for name, path in sources.items():
        mode = "power_only" if name.endswith(".power") else "counter"
        clock = OriginClock()
        sampler = ReplaySampler.open("cpu", trace=path, clock=clock,
                                     power_only="true" if mode == "power_only" else "")[0]
        out.append((name.rsplit(".", 1)[0], mode, sampler, clock))
    return out


def measure_windows(rate_hz: float, duration_s: float, sources: dict[str, Path], profs: dict[str, Any],
                    tmp: Path, seed: int) -> list[dict[str, Any]]:
    """Windows of 0.6-1.4 s on every channel at ``rate_hz``; relative error per window and channel."""
    from bench.meter.meter import Meter

    chans = open_channels(sources)
    folder = Path(tempfile.mkdtemp(dir=tmp))
    meter = Meter([c[2] for c in chans], rate_hz=rate_hz, folder=folder)
    rng = random.Random(seed)
    windows = []
    meter.start()
    time.sleep(0.15)
    end = time.monotonic() + duration_s - 0.3
    k = 0
    while time.monotonic() + 0.6 < end:
        meter.open_window(f"w{k}")
        time.sleep(min(rng.uniform(0.6, 1.4), max(end - time.monotonic(), 0.3)))
        windows.append(meter.close_window(f"w{k}"))
        k += 1
    meter.stop()
    times = channel_times(folder)
    rows = []
    for w in windows:
        by_name = {c.channel: c for c in w.channels}
        for prof, mode, sampler, clock in chans:
            ts = times[sampler.channel]
            t_a = ts[bisect.bisect_left(ts, w.t_start_ns)]  # this channel's opening edge read
            t_b = ts[bisect.bisect_right(ts, w.t_end_ns) - 1]  # and its closing one
            exact = profs[prof].energy_j((t_a - clock.first_ns) / 1e9, (t_b - clock.first_ns) / 1e9)
            got = by_name[sampler.channel].energy_j
            rows.append({"window": w.name, "profile": prof, "mode": mode, "duration_s": (t_b - t_a) / 1e9,
                         "exact_j": exact, "energy_j": got,
                         "method": by_name[sampler.channel].method,
                         "rel_error": (got - exact) / exact if got is not None else None,
                         "issues": sorted({i.code for i in w.issues})})
    return rows


def summarise_windows(rate_hz: float, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per profile and mode: windows, median and worst absolute relative error (%)."""
    from bench.analysis.stats import percentile

    out = []
    for key in sorted({(r["profile"], r["mode"]) for r in rows}):
        sel = [r for r in rows if (r["profile"], r["mode"]) == key]
        errs = sorted(abs(r["rel_error"]) * 100.0 for r in sel if r["rel_error"] is not None)
        out.append({"rate_hz": rate_hz, "profile": key[0], "mode": key[1], "windows": len(sel),
                    "methods": sorted({r["method"] for r in sel}),
                    "abs_rel_error_median_pct": percentile(errs, 50) if errs else None,
                    "abs_rel_error_max_pct": errs[-1] if errs else None,
                    "missing": sum(1 for r in sel if r["rel_error"] is None)})
    return out


def write_sources(tmp: Path, profs: dict[str, Any]) -> dict[str, Path]:
    """Each profile as two 1 ms traces, channels ``NAME.counter`` and ``NAME.power``."""
    from bench.conformance.traces import write_profile_trace

    out = {}
    for name, prof in profs.items():
        for mode in ("counter", "power"):
            channel = f"{name}.{mode}"
            out[channel] = write_profile_trace(tmp / "sources" / channel, prof, channel=channel)
    return out


# --- output --------------------------------------------------------------------------------------


def _f(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def markdown(report: dict[str, Any]) -> str:
    """Both parts as markdown tables."""
    lines = ["| nominal (Hz) | achieved, meter (Hz) | rate error | interval p50 (ms) | p99 (ms) "
             "| achieved, trace (Hz) | trace p50 / p99 / max (ms) | gaps |", "|---|---|---|---|---|---|---|---|"]
    for r in report["rate"]:
        m, t = r["meter"], r["trace"]
        lines.append(
            f"| {r['rate_hz']:g} | {_f(m['achieved_rate_hz'], '.2f')} | {_f(r['rate_error_pct'], '+.2f')}% "
            f"| {_f(m['interval_p50_s'] and m['interval_p50_s'] * 1e3, '.3f')} "
            f"| {_f(m['interval_p99_s'] and m['interval_p99_s'] * 1e3, '.3f')} "
            f"| {_f(t['achieved_rate_hz'], '.2f')} "
            f"| {_f(t['interval_p50_s'] and t['interval_p50_s'] * 1e3, '.3f')} / "
            f"{_f(t['interval_p99_s'] and t['interval_p99_s'] * 1e3, '.3f')} / "
            f"{_f(t['interval_max_s'] and t['interval_max_s'] * 1e3, '.2f')} | {t['gaps']} |")
    lines += ["", "| rate (Hz) | profile | mode | windows | abs. rel. error, median | max |", "|---|---|---|---|---|---|"]
    for e in report["energy"]:
        lines.append(f"| {e['rate_hz']:g} | {e['profile']} | {e['mode']} | {e['windows']} "
                     f"| {_f(e['abs_rel_error_median_pct'], '.4f')}% | {_f(e['abs_rel_error_max_pct'], '.4f')}% |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    p.add_argument("--rates", default="10,100,1000", help="meter rates in Hz, comma-separated")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per rate, for each part")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.quick:
        args.rates, args.duration = "10,100", 1.5
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rates = [float(x) for x in args.rates.split(",")]
    report: dict[str, Any] = {
        "benchmark": "sampling_accuracy",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/sampling_accuracy.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "config": {"quick": args.quick, "rates_hz": rates, "duration_s": args.duration,
                   "source_resolution_s": 0.001, "spike_width_s": SPIKE_WIDTH_S, "seed": args.seed},
        "rate": [],
        "energy": [],
        "windows": [],
    }
    from bench.conformance.traces import steps, write_profile_trace

    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp_name:
        tmp = Path(tmp_name)
        length_s = args.duration + 2.0
        rate_trace = write_profile_trace(tmp / "rate", steps([(0.0, 120.0), (0.5, 250.0)], 3.0))
        profs = profiles(length_s)
        sources = write_sources(tmp, profs)
        measure_rate(rates[0], 0.2, rate_trace, tmp)  # warm-up: imports, first trace writer
        for rate in rates:
            report["rate"].append(measure_rate(rate, args.duration, rate_trace, tmp))
        for k, rate in enumerate(rates):
            rows = measure_windows(rate, args.duration, sources, profs, tmp, args.seed + k)
            report["windows"] += [{"rate_hz": rate, **r} for r in rows]
            report["energy"] += summarise_windows(rate, rows)
    report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(markdown(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
