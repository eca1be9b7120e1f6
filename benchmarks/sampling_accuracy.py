"""Sampling accuracy of the meter on sensors modelled as they are: window energy against the exact value.

Part 1 (rate): one ``replay`` channel on the real monotonic clock, the meter at each rate, its trace
streamed to a temporary folder: achieved rate and interval percentiles, from ``Meter.stats()`` and
independently from the written trace.

Part 2 (energy): the real meter, unthreaded, on a simulated clock, reading sensors that refresh as the
hardware does: the fake NVML through the real ``nvml`` sampler (a whole-mJ counter refreshed every 10 ms;
``nvmlDeviceGetPowerUsage``, a 1 s mean refreshed every 100 ms; the instant field, here refreshed every
1 ms) and, as measured on an H200 (driver 580.159.04: a counter refreshed every 100 ms, power every
100.6 ms, an instant field that averages 25 ms of each refresh), and RAPL's counter (61 uJ units, 1 ms).
Loads with exactly known energy: steps (window edges on steps), ramps, sines, 20 ms spikes once a second
(edges mid-spike) and random bursts; windows of 1, 5, 10 and 30 s; reads at 10, 100 and 1000 Hz
(stratified). Each window's error against the load's exact energy, and whether its stated bound covers it.

Part 3 (phase): 20 ms spikes once a second read by instantaneous power at 10 Hz over 10 s windows, the
spike train at ten phases across one read period: regular reads lock in phase (each phase its own bias:
every spike hit, or every one missed), stratified reads do not (every phase's mean error near zero).

Part 4 (targets): the issue's targets checked against part 2, and the counter-vs-power validity check
over every >= 10 s window of a counter with averaged power.

Usage::

    python benchmarks/sampling_accuracy.py [--quick] [--out FILE] [--write-docs]

JSON goes to stdout (and ``--out``); the markdown tables go to stderr, and with ``--write-docs`` into
docs/performance.md between its ``sampling-accuracy`` markers (and the JSON to docs/data/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
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

from _docs import emit, write_data, write_section  # noqa: E402  (beside this script)
from _machine import machine_info  # noqa: E402  (beside this script)

from bench.clock import SimClock  # noqa: E402  (light: no heavy imports)

H100 = "NVIDIA H100 80GB HBM3"
WINDOW_LENGTHS = (1.0, 5.0, 10.0, 30.0)


# --- sensors ------------------------------------------------------------------------------------------------


class RaplModel:
    """RAPL's package counter as the kernel shows it: 61.035 uJ units, refreshed every millisecond."""

    UNIT_J = 61035e-9

    def __init__(self, timeline: Any, clock: SimClock) -> None:
        from bench.samplers.base import Capabilities, PowerKind, Scope

        self.name, self.channel, self.timeline, self.clock = "rapl-model", "rapl:package-0", timeline, clock
        self.capabilities = Capabilities(energy_counter=True, power=PowerKind.NONE, scope=Scope.PACKAGE,
                                         update_period_s=0.001, counter_wrap_j=None)

    def read(self) -> Any:
        from bench.samplers.base import Reading

        t = math.floor(self.clock.now_ns() / 1e6) / 1e3
        return Reading(energy_j=math.floor(self.timeline.energy_j(0.0, t) / self.UNIT_J) * self.UNIT_J)

    def close(self) -> None:
        return None


def sensors(quick: bool) -> dict[str, dict[str, Any]]:
    """name -> how to build it: the fake GPU's settings and the nvml sampler's power option, or RAPL."""
    from bench.conformance.fake_nvml import H200_AS_MEASURED

    out = {
        "nvml counter": {"gpu": {}, "power": "auto"},
        "nvml averaged power": {"gpu": {"energy_counter": False, "instant_field": False}, "power": "usage"},
        "instant power": {"gpu": {"energy_counter": False, "power_update_s": 0.001}, "power": "instant"},
        "rapl counter": {"rapl": True},
        "h200 counter": {"gpu": dict(H200_AS_MEASURED), "power": "auto"},
        "h200 averaged power": {"gpu": {**H200_AS_MEASURED, "energy_counter": False, "instant_field": False},
                                "power": "usage"},
        "h200 instant field": {"gpu": {**H200_AS_MEASURED, "energy_counter": False}, "power": "instant"},
    }
    if quick:
        return {k: out[k] for k in ("nvml counter", "nvml averaged power", "instant power")}
    return out


# --- loads ----------------------------------------------------------------------------------------------------


def schedule(quick: bool, rng: random.Random, start: float = 2.0) -> list[tuple[float, float]]:
    """Window edges (s): lengths 1, 5, 10, 30 s, in a shuffled order, 0.6-1.4 s apart."""
    lengths = [1.0] * 2 + [5.0, 10.0] if quick else [1.0] * 6 + [5.0] * 3 + [10.0] * 3 + [30.0] * 2
    rng.shuffle(lengths)
    out, t = [], start
    for length in lengths:
        t = round(t + rng.uniform(0.6, 1.4), 3)
        out.append((t, t + length))
        t += length
    return out


def loads(windows: list[tuple[float, float]], end_s: float, rng: random.Random) -> dict[str, tuple[Any, list]]:
    """case -> (power timeline, window edges). Steps have a step at every edge; spikes are mid-spike at every
    edge; the others keep the shared edges."""
    from bench.conformance.fake_nvml import PowerTimeline

    levels = [150.0, 260.0, 420.0, 560.0, 700.0]
    cuts = sorted({0.0, *(a for a, _ in windows), *(b for _, b in windows),
                   *(rng.uniform(0, end_s) for _ in range(int(end_s / 3)))})
    steps = PowerTimeline.steps([(t, rng.choice(levels)) for t in cuts])
    ramp_pts, t = [(0.0, 200.0)], 0.0
    while t < end_s:
        t += rng.uniform(1.0, 5.0)
        ramp_pts.append((t, rng.uniform(150.0, 700.0)))
    ramps = PowerTimeline(ramp_pts)
    sines = PowerTimeline.from_function(lambda s: 420.0 + 250.0 * math.sin(2 * math.pi * s / 0.7), end_s + 2)
    spike_pts = [(0.0, 200.0)]
    for k in range(int(end_s) + 2):  # a 20 ms spike to 720 W at k + 0.5 s
        spike_pts += [(k + 0.5, 200.0), (k + 0.5, 720.0), (k + 0.52, 720.0), (k + 0.52, 200.0)]
    spikes = PowerTimeline(spike_pts)
    mid_spike = [(math.floor(a) + 0.51, math.floor(a) + 0.51 + round(b - a)) for a, b in windows]
    burst_pts, t = [(0.0, 200.0)], 0.0
    while t < end_s:
        t += rng.uniform(0.2, 1.5)
        width, high = rng.uniform(0.05, 0.3), rng.uniform(600.0, 700.0)
        burst_pts += [(t, 200.0), (t, high), (t + width, high), (t + width, 200.0)]
        t += width
    bursts = PowerTimeline(burst_pts)
    return {"steps": (steps, windows), "ramps": (ramps, windows), "sines": (sines, windows),
            "spikes": (spikes, mid_spike), "bursts": (bursts, windows)}


# --- part 2: window energy ------------------------------------------------------------------------------------


def measure(sensor: dict[str, Any], timeline: Any, windows: list[tuple[float, float]], rate_hz: float,
            polling: str = "stratified", seed: int = 0) -> list[dict[str, Any]]:
    """Each window through the real meter on a simulated clock: its energy, bound and the exact energy. The meter
    reads at the rate ``bench run`` reads at for ``rate_hz`` asked (``read_hz``: raised for averaged power alone)."""
    from bench.conformance.fake_nvml import FakeGpu, FakeNvml
    from bench.meter.meter import Meter
    from bench.samplers.nvml import NvmlSampler
    from bench.samplers.select import read_rate_hz

    clock = SimClock()
    t0_ns = clock.now_ns()  # the fake driver loads now: the timeline's origin
    nvml = FakeNvml([FakeGpu(H100, power=timeline, **sensor.get("gpu", {}))], clock)
    rows = []
    with nvml.installed():
        samplers = [RaplModel(timeline, clock)] if sensor.get("rapl") else \
            NvmlSampler.open("cuda:0", clock=clock, power=sensor["power"])
        read_hz, _ = read_rate_hz(samplers, rate_hz)
        meter = Meter(samplers, rate_hz=read_hz, clock=clock, threaded=False, polling=polling, seed=seed).start()
        for k, (a, b) in enumerate(windows):
            meter.run_for(max(a - (clock.now_ns() - t0_ns) / 1e9, 0.0))
            meter.open_window(f"w{k}")
            meter.run_for(max(b - (clock.now_ns() - t0_ns) / 1e9, 0.0))
            w = meter.close_window(f"w{k}")
            ta, tb = (w.t_start_ns - t0_ns) / 1e9, (w.t_end_ns - t0_ns) / 1e9
            exact = timeline.energy_j(ta, tb)
            ch = w.channels[0]
            rows.append({"length_s": round(b - a), "read_hz": read_hz, "caps": samplers[0].capabilities.to_dict(), "duration_s": w.duration_s, "exact_j": exact,
                         "energy_j": w.energy_j, "bound_j": w.energy_uncertainty_j, "method": ch.method,
                         "how": ch.edges or ch.power_correction, "clean": w.clean,
                         "error_pct": (w.energy_j - exact) / exact * 100 if w.energy_j is not None else None,
                         "integrated_j": ch.integrated_energy_j, "integrated_bound_j": ch.integrated_uncertainty_j,
                         "power_correction": ch.power_correction, "power_std_w": ch.power_std_w})
        meter.stop()
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    errs = [r["error_pct"] for r in rows if r["error_pct"] is not None]
    covered = [abs(r["energy_j"] - r["exact_j"]) <= (r["bound_j"] or 0.0) + 1e-9 * r["exact_j"]
               for r in rows if r["bound_j"] is not None]
    return {"windows": len(rows), "max_abs_error_pct": max((abs(e) for e in errs), default=None),
            "mean_error_pct": sum(errs) / len(errs) if errs else None,
            "bound_covers": (sum(covered) / len(covered)) if covered else None,
            "mean_bound_pct": (sum(r["bound_j"] / r["exact_j"] * 100 for r in rows if r["bound_j"] is not None)
                               / len(covered)) if covered else None,
            "methods": sorted({r["how"] or r["method"] for r in rows})}


def energy_part(quick: bool, rates: list[float], seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    windows = schedule(quick, rng)
    end_s = windows[-1][1] + 2.0
    cases = loads(windows, end_s, rng)
    if quick:
        cases = {k: cases[k] for k in ("steps", "spikes")}
    table, raw = [], []
    for name, sensor in sensors(quick).items():
        for case, (timeline, edges) in cases.items():
            for rate in rates:
                rows = measure(sensor, timeline, edges, rate, seed=seed)
                raw += [{"sensor": name, "case": case, "rate_hz": rate, **r} for r in rows]
                for length in sorted({r["length_s"] for r in rows}):
                    sel = [r for r in rows if r["length_s"] == length]
                    table.append({"sensor": name, "case": case, "rate_hz": rate, "read_hz": sel[0]["read_hz"],
                                  "length_s": length, **summarise(sel)})
    return table, raw


# --- part 3: phase ------------------------------------------------------------------------------------------


def phase_part(quick: bool, seed: int) -> dict[str, Any]:
    """Instantaneous power at 10 Hz, 20 ms spikes once a second at ten phases: error per phase and polling."""
    from bench.conformance.fake_nvml import PowerTimeline

    phases = [k / 100 for k in range(10)]  # across one 100 ms read period
    n_windows = 2 if quick else 8
    out: dict[str, Any] = {"phases": phases, "windows_per_phase": n_windows}
    sensor = {"gpu": {"energy_counter": False, "power_update_s": 0.001}, "power": "instant"}
    for polling in ("regular", "stratified"):
        means = []
        for k, phase in enumerate(phases):
            pts = [(0.0, 200.0)]
            for s in range(12 * n_windows + 4):
                at = s + phase + 0.003  # a read instant is inside the spike at two phases of ten
                pts += [(at, 200.0), (at, 720.0), (at + 0.02, 720.0), (at + 0.02, 200.0)]
            timeline = PowerTimeline(pts)
            windows = [(2.0 + 12 * i, 12.0 + 12 * i) for i in range(n_windows)]
            rows = measure(sensor, timeline, windows, 10.0, polling=polling, seed=seed + k)
            means.append(sum(r["error_pct"] for r in rows) / len(rows))
        out[polling] = {"mean_error_pct_by_phase": means, "mean_over_phases_pct": sum(means) / len(means),
                        "worst_phase_pct": max(means, key=abs)}
    return out


# --- part 4: targets ----------------------------------------------------------------------------------------


def worst(table: list[dict[str, Any]], sensors_: tuple[str, ...], rates: tuple[float, ...],
          lengths: tuple[float, ...]) -> float | None:
    sel = [t["max_abs_error_pct"] for t in table if t["sensor"] in sensors_ and t["rate_hz"] in rates
           and t["length_s"] in lengths and t["max_abs_error_pct"] is not None]
    return max(sel) if sel else None


def targets(table: list[dict[str, Any]], raw: list[dict[str, Any]], rates: list[float]) -> list[dict[str, Any]]:
    from bench.analysis.validity import counter_vs_power
    from bench.result.model import ChannelEnergy, Window

    fast = tuple(r for r in rates if r >= 100)
    long = (10.0, 30.0)
    out = []

    def add(name: str, limit: float, value: float | None, scope: str) -> None:
        out.append({"target": name, "limit_pct": limit, "worst_pct": value, "scope": scope,
                    "met": value is not None and value <= limit})

    add("counter at >= 100 Hz, 1 s windows", 0.5, worst(table, ("nvml counter",), fast, (1.0,)),
        "NVML's 10 ms counter, every load")
    add("counter at >= 100 Hz, >= 10 s windows", 0.1, worst(table, ("nvml counter",), fast, long),
        "NVML's 10 ms counter, every load")
    add("averaged power only, >= 10 s windows", 1.0, worst(table, ("nvml averaged power",), tuple(rates), long),
        "NVML's 1 s average, every load, every rate asked (read at 20 Hz or more)")
    add("instantaneous power at 100 Hz, every window", 1.0,
        worst(table, ("instant power",), (100.0,), WINDOW_LENGTHS), "every load and window length")
    # the counter against the figure the channel keeps to check it: on an H100 with the instant field, the 1 s
    # average read beside that field, lag corrected
    checks = []
    for r in raw:
        if r["sensor"] != "nvml counter" or r["length_s"] < 10 or r["integrated_j"] is None:
            continue
        ce = ChannelEnergy(channel="c", energy_j=r["energy_j"], method="counter", energy_uncertainty_j=r["bound_j"],
                           integrated_energy_j=r["integrated_j"], integrated_uncertainty_j=r["integrated_bound_j"],
                           power_correction=r["power_correction"], power_std_w=r["power_std_w"])
        checks += counter_vs_power([Window(name="w", t_start_ns=0, t_end_ns=int(r["duration_s"] * 1e9),
                                           duration_s=r["duration_s"], energy_j=r["energy_j"], mean_power_w=None,
                                           peak_power_w=None, samples=0, channels=[ce])],
                                   {"c": r["caps"]})
    out.append({"target": "counter-vs-power check passes every correct counter (instant field beside it)",
                "limit_pct": None, "worst_pct": max((c.value * 100 for c in checks), default=None),
                "scope": f"{len(checks)} windows >= 10 s, every load",
                "met": bool(checks) and all(c.ok for c in checks)})
    return out


def averaged_validity(quick: bool, seed: int) -> dict[str, Any]:
    """The counter-vs-power check on a counter with averaged power (an H100 without the instant field, the
    H200 as measured), over every >= 10 s window of every load, at 100 Hz."""
    from bench.analysis.validity import counter_vs_power
    from bench.conformance.fake_nvml import H200_AS_MEASURED
    from bench.result.model import ChannelEnergy, Window

    rng = random.Random(seed + 1)
    windows = schedule(quick, rng)
    cases = loads(windows, windows[-1][1] + 2.0, rng)
    results = []
    for gpu in ({"instant_field": False}, {**H200_AS_MEASURED, "instant_field": False}):
        for case, (timeline, edges) in cases.items():
            for r in measure({"gpu": gpu, "power": "usage"}, timeline, edges, 100.0, seed=seed):
                if r["length_s"] < 10:
                    continue
                ce = ChannelEnergy(channel="c", energy_j=r["energy_j"], method="counter",
                                   energy_uncertainty_j=r["bound_j"], integrated_energy_j=r["integrated_j"],
                                   integrated_uncertainty_j=r["integrated_bound_j"],
                                   power_correction=r["power_correction"])
                w = Window(name=case, t_start_ns=0, t_end_ns=int(r["duration_s"] * 1e9), duration_s=r["duration_s"],
                           energy_j=r["energy_j"], mean_power_w=None, peak_power_w=None, samples=0, channels=[ce])
                results += [c.value for c in counter_vs_power([w], {"c": {"power": "averaged",
                                                                           "power_average_window_s": 1.0,
                                                                           "energy_tolerance": 0.05}})]
    return {"windows": len(results), "worst_pct": max(results, default=0.0) * 100,
            "passed": sum(1 for v in results if v <= 0.05)}


# --- part 1: rate (real clock) --------------------------------------------------------------------------------


def measure_rate(rate_hz: float, duration_s: float, tmp: Path) -> dict[str, Any]:
    from bench.conformance.traces import steps, write_profile_trace
    from bench.meter.meter import Meter
    from bench.result.trace import read_trace
    from bench.samplers.replay import ReplaySampler

    trace = write_profile_trace(tmp / f"rate-{rate_hz:g}", steps([(0.0, 120.0), (0.5, 250.0)], 3.0))
    sampler = ReplaySampler.open("cpu", trace=trace, loop="true")[0]
    folder = Path(tempfile.mkdtemp(dir=tmp))
    meter = Meter([sampler], rate_hz=rate_hz, folder=folder)
    meter.start()
    time.sleep(duration_s)
    meter.stop()
    stats = meter.stats()
    ts = sorted(read_trace(folder, ["t_ns"]).column("t_ns").to_pylist())
    iv = sorted((b - a) / 1e9 for a, b in zip(ts, ts[1:]))
    span = (ts[-1] - ts[0]) / 1e9 if len(ts) > 1 else 0
    from bench.analysis.stats import percentile

    return {"rate_hz": rate_hz, "duration_s": duration_s, "meter": stats,
            "trace": {"samples": len(ts), "achieved_rate_hz": (len(ts) - 1) / span if span else None,
                      "interval_p50_s": percentile(iv, 50), "interval_p99_s": percentile(iv, 99),
                      "interval_max_s": iv[-1] if iv else None, "gaps": sum(1 for x in iv if x > 3 / rate_hz)},
            "error": str(meter.error) if meter.error is not None else None}


# --- output -------------------------------------------------------------------------------------------------


def _f(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def markdown(report: dict[str, Any]) -> str:
    lines = ["| nominal (Hz) | achieved, meter (Hz) | interval p50 / p99 (ms) | achieved, trace (Hz) "
             "| trace p50 / p99 / max (ms) | gaps (> 3x nominal) |", "|---|---|---|---|---|---|"]
    for r in report["rate"]:
        m, t = r["meter"], r["trace"]
        ms = [x and x * 1e3 for x in (m["interval_p50_s"], m["interval_p99_s"], t["interval_p50_s"],
                                      t["interval_p99_s"], t["interval_max_s"])]
        lines.append(f"| {r['rate_hz']:g} | {_f(m['achieved_rate_hz'], '.2f')} | {_f(ms[0])} / {_f(ms[1])} "
                     f"| {_f(t['achieved_rate_hz'], '.2f')} | {_f(ms[2])} / {_f(ms[3])} / {_f(ms[4], '.2f')} "
                     f"| {t['gaps']} |")
    lengths = sorted({t["length_s"] for t in report["energy"]})
    lines += ["", "Worst absolute error of a window, per window length; in brackets the share of windows whose "
              "stated bound covers their error, where a bound is stated.", "",
              "| sensor | load | rate asked (Hz) | " + " | ".join(f"{x:g} s" for x in lengths) + " | method |",
              "|---|---|---|" + "---|" * len(lengths) + "---|"]
    groups: dict[tuple, dict[float, dict[str, Any]]] = {}
    for t in report["energy"]:
        groups.setdefault((t["sensor"], t["case"], t["rate_hz"]), {})[t["length_s"]] = t
    for (sensor, case, rate), by_len in groups.items():
        cells = []
        for x in lengths:
            t = by_len.get(x)
            if t is None:
                cells.append("-")
                continue
            cover = f" ({t['bound_covers'] * 100:.0f}%)" if t["bound_covers"] is not None else ""
            cells.append(f"{_f(t['max_abs_error_pct'])}%{cover}")
        methods = sorted({m for t in by_len.values() for m in t["methods"]})
        read = next(iter(by_len.values())).get("read_hz", rate)
        asked = f"{rate:g}" if read == rate else f"{rate:g} (read at {read:g})"
        lines.append(f"| {sensor} | {case} | {asked} | " + " | ".join(cells) + f" | {', '.join(methods)} |")
    ph = report["phase"]
    lines += ["", "| reads (10 Hz) | mean error over phases | worst phase | error by phase (0 .. 90 ms) |",
              "|---|---|---|---|"]
    for polling in ("regular", "stratified"):
        p = ph[polling]
        lines.append(f"| {polling} | {p['mean_over_phases_pct']:+.2f}% | {p['worst_phase_pct']:+.2f}% | "
                     + " ".join(f"{m:+.1f}" for m in p["mean_error_pct_by_phase"]) + " |")
    lines += ["", "| target | limit | worst | scope | met |", "|---|---|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {_f(t['limit_pct'], 'g')}{'%' if t['limit_pct'] else ''} "
                     f"| {_f(t['worst_pct'])}% | {t['scope']} | {'yes' if t['met'] else 'NO'} |")
    v = report["averaged_validity"]
    lines.append(f"| counter-vs-power check, counter beside averaged power (H100 without the instant field, H200 as "
                 f"measured) | 5% | {v['worst_pct']:.3f}% | {v['windows']} windows >= 10 s | "
                 f"{'yes' if v['passed'] == v['windows'] else 'NO'} |")
    return "\n".join(lines)


def write_docs(report: dict[str, Any], text: str) -> None:
    stamp = (f"Produced by `{report['command']}` on {report['date']} "
             f"({report['config']['seconds_energy']:.0f} s of simulation).")
    write_data("sampling_accuracy", report)
    write_section("performance.md", "sampling_accuracy", f"{stamp}\n\n{text}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    p.add_argument("--rates", default="10,100,1000", help="meter rates in Hz, comma-separated")
    p.add_argument("--rate-duration", type=float, default=5.0, help="seconds per rate for part 1 (real clock)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--windows", action="store_true", help="include every window's row in the JSON")
    p.add_argument("--write-docs", action="store_true", help="update docs/performance.md and docs/data/")
    p.add_argument("--render", type=Path, metavar="JSON", help="only print (and with --write-docs, write) the "
                   "tables of a report this script saved")
    args = p.parse_args(argv)
    if args.quick:
        args.rates, args.rate_duration = "10,100", 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text(encoding="utf-8"))
        table = markdown(report)
        print(table)
        if args.write_docs:
            write_docs(report, table)
        return 0
    rates = [float(x) for x in args.rates.split(",")]
    report: dict[str, Any] = {
        "benchmark": "sampling_accuracy",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/sampling_accuracy.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "config": {"quick": args.quick, "rates_hz": rates, "seed": args.seed, "window_lengths_s": WINDOW_LENGTHS},
    }
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
        report["rate"] = [measure_rate(r, args.rate_duration, Path(tmp)) for r in rates]
    start = time.monotonic()
    report["energy"], raw = energy_part(args.quick, rates, args.seed)
    report["phase"] = phase_part(args.quick, args.seed)
    report["targets"] = targets(report["energy"], raw, rates)
    report["averaged_validity"] = averaged_validity(args.quick, args.seed)
    report["config"]["seconds_energy"] = time.monotonic() - start
    if args.windows:
        report["windows"] = raw
    report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    emit(report, args.out)
    table = markdown(report)
    print(table, file=sys.stderr)
    if args.write_docs:
        write_docs(report, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
