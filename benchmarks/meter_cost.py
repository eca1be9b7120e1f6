"""Meter cost: the CPU bench's meter takes beside an idle program, next to CodeCarbon's tracker, in one process.

The program does nothing (its main thread sleeps), so every CPU-second is the meter's. Conditions, each in turn
in the same process, in a shuffled order per round:

- ``codecarbon@1Hz``: CodeCarbon's ``OfflineEmissionsTracker`` (no network) at its shortest sensible interval,
  ``measure_power_secs=1``, not saving to a file;
- ``bench@RATE``: bench's meter polling the CPU ``estimate`` sampler at each of ``--rates``, streaming its trace
  (``trace.arrows``) to a temporary folder exactly as ``bench run`` does.

- ``wakeups@RATE``: a thread that only sleeps and wakes at each rate as the meter's thread does (its
  :class:`bench.meter.waker.Waker`), reading nothing: the part of the meter's cost that any sampling thread at
  that rate pays on this machine, whatever it reads;
- ``loop@RATE``: the same wake-ups, each followed by the estimate sampler's read and the trace writer's append
  (and its flush once a second), without the meter's bookkeeping (schedule, windows, intervals, checks): what
  reading this sensor and streaming its trace cost at that rate however the meter were written;
- ``idle``: nothing at all, the floor the others are counted from.

Each starts, settles for ``--settle`` seconds (its start-up is not counted), then is measured over ``--window``
seconds of wall time: the CPU time of the whole process (``time.process_time``) per wall-second, in % of one
core, less the idle floor: the figure the targets are judged on (CodeCarbon runs each measurement in a new
timer thread, so only the process sees all of it). For bench also the CPU of its own thread
(``/proc/self/task/TID/schedstat``), per poll (us), and the rate it held. Reported per condition: the median
over ``--rounds`` rounds, and the range.

Then the rate test: the meter at 1000 Hz (estimate sampler, trace streamed) while another process keeps a core
busy (a spinning ``python`` child), over ``--window`` seconds: the achieved rate from ``Meter.stats()`` and,
independently, from the trace it wrote.

Then what a sleep does to the cost of the code after it: on a thread of its own, the CPU time
(``time.thread_time_ns``) of an empty Python call and of the estimate sampler's read, back to back and right after
sleeping 10 ms and 100 ms, and of the sleep's own wake-up; the median of ``COLD_SAMPLES`` each.

Targets: at 10 Hz no more CPU than CodeCarbon at 1 Hz; at 100 Hz under 1% of a core; 1000 Hz held to at least
90% with the other core busy.

Usage::

    python benchmarks/meter_cost.py [--quick] [--rounds N] [--window S] [--out FILE] [--docs]

JSON goes to stdout (and ``--out``); a markdown table to stderr. ``--docs`` also writes docs/data/meter_cost.json
and the meter-cost section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from _docs import emit, write_data, write_section  # noqa: E402  (beside this script)
from _machine import machine_info  # noqa: E402

CODECARBON_INTERVAL_S = 1.0
RATE_TARGET_HZ = 1000.0
RATE_TARGET_SHARE = 0.9
CPU_TARGET_100HZ_PCT = 1.0
COLD_SAMPLES = 30
COLD_SLEEPS_S = (0.01, 0.1)


def thread_cpu_s(tid: int) -> float:
    """CPU time (s) thread ``tid`` of this process has run (schedstat, ns); 0 once it has exited."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def tids() -> set[int]:
    return {int(t) for t in os.listdir("/proc/self/task")}


class Condition:
    """Something that runs beside the program: ``start()``, ``stop()``; ``polls()`` where it counts them."""

    name = ""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def polls(self) -> int | None:
        return None


class Idle(Condition):
    name = "idle"


class CodeCarbon(Condition):
    def __init__(self) -> None:
        self.name = f"codecarbon@{1 / CODECARBON_INTERVAL_S:g}Hz"
        self.tracker: Any = None

    def start(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        self.tracker = OfflineEmissionsTracker(country_iso_code="FRA", measure_power_secs=CODECARBON_INTERVAL_S,
                                               save_to_file=False, log_level="error")
        self.tracker.start()

    def stop(self) -> None:
        self.tracker.stop()


class Wakeups(Condition):
    """A thread that wakes at ``rate_hz`` and does nothing else: the floor of any sampling thread at that rate."""

    def __init__(self, rate_hz: float) -> None:
        self.name = f"wakeups@{rate_hz:g}Hz"
        self.rate_hz = rate_hz
        self.count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from bench.meter.waker import Waker

        self._stop.clear()
        waker, period_s = Waker(), 1.0 / self.rate_hz

        def loop() -> None:
            while not self._stop.is_set():
                waker.wait(period_s)
                self.count += 1

        self._thread = threading.Thread(target=loop, name="wakeups", daemon=True)
        self._thread.start()

    def polls(self) -> int | None:
        return self.count

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class BareLoop(Wakeups):
    """Wake at ``rate_hz``, read the estimate sampler, append to a trace stream, flush it once a second."""

    def __init__(self, rate_hz: float, tmp: Path) -> None:
        super().__init__(rate_hz)
        self.name = f"loop@{rate_hz:g}Hz"
        self.tmp = tmp

    def start(self) -> None:
        from bench.meter.waker import Waker
        from bench.result.trace import TraceWriter
        from bench.samplers.estimate import EstimateSampler

        self._stop.clear()
        sampler = EstimateSampler.open("cpu")[0]
        writer = TraceWriter(Path(tempfile.mkdtemp(dir=self.tmp)))
        waker, period_s = Waker(), 1.0 / self.rate_hz

        def loop() -> None:
            flushed = time.monotonic_ns()
            while not self._stop.is_set():
                waker.wait(period_s)
                reading = sampler.read()
                reading.t_ns = now = time.monotonic_ns()
                writer.append(sampler.channel, reading)
                if now - flushed >= 1_000_000_000:
                    writer.flush()
                    flushed = now
                self.count += 1
            writer.close()
            sampler.close()

        self._thread = threading.Thread(target=loop, name="bare-loop", daemon=True)
        self._thread.start()


class BenchMeter(Condition):
    def __init__(self, rate_hz: float, tmp: Path) -> None:
        self.name = f"bench@{rate_hz:g}Hz"
        self.rate_hz, self.tmp = rate_hz, tmp
        self.meter: Any = None
        self.sampler: Any = None
        self.folder: Path | None = None

    def start(self) -> None:
        from bench.meter.meter import Meter
        from bench.samplers.estimate import EstimateSampler

        self.folder = Path(tempfile.mkdtemp(dir=self.tmp))
        self.sampler = EstimateSampler.open("cpu")[0]
        self.meter = Meter([self.sampler], rate_hz=self.rate_hz, folder=self.folder)
        self.meter.start()

    def polls(self) -> int | None:
        return self.meter.stats()["polls"]

    def stats(self) -> dict[str, Any]:
        return self.meter.stats()

    def stop(self) -> None:
        from bench.result.trace import finalize

        self.meter.stop()
        self.sampler.close()
        finalize(self.folder)


def measure(cond: Condition, settle_s: float, window_s: float) -> dict[str, Any]:
    """Start ``cond``, let it settle, then its CPU over ``window_s`` of wall time; stop it."""
    before = tids()
    cond.start()
    time.sleep(settle_s)
    mine = sorted(tids() - before)
    cpu0 = {t: thread_cpu_s(t) for t in mine}
    proc0, wall0, polls0 = time.process_time(), time.perf_counter(), cond.polls()
    time.sleep(window_s)
    threads = sum(thread_cpu_s(t) - cpu0[t] for t in mine)
    proc, wall, polls1 = time.process_time() - proc0, time.perf_counter() - wall0, cond.polls()
    cond.stop()
    row: dict[str, Any] = {"wall_s": wall, "threads": len(mine), "thread_cpu_pct": 100 * threads / wall,
                           "process_cpu_pct": 100 * proc / wall}
    if polls0 is not None and polls1 is not None:
        row["polls"] = polls1 - polls0
        row["rate_hz"] = (polls1 - polls0) / wall
        row["cpu_per_poll_us"] = 1e6 * threads / max(polls1 - polls0, 1)
    return row


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def cost(rates: list[float], rounds: int, settle_s: float, window_s: float, tmp: Path,
         seed: int) -> list[dict[str, Any]]:
    conds: list[Condition] = [Idle(), CodeCarbon(), *(Wakeups(r) for r in rates), *(BareLoop(r, tmp) for r in rates),
                              *(BenchMeter(r, tmp) for r in rates)]
    runs: dict[str, list[dict[str, Any]]] = {c.name: [] for c in conds}
    rng = random.Random(seed)
    for _ in range(rounds):
        order = conds[:]
        rng.shuffle(order)
        for cond in order:
            runs[cond.name].append(measure(cond, settle_s, window_s))
    rows = []
    floor = statistics.median(r["process_cpu_pct"] for r in runs["idle"])
    for cond in conds:
        rs = runs[cond.name]
        row: dict[str, Any] = {"condition": cond.name, "runs": len(rs), "threads": max(r["threads"] for r in rs),
                               "thread_cpu_pct": spread([r["thread_cpu_pct"] for r in rs]),
                               "process_cpu_pct": spread([r["process_cpu_pct"] for r in rs]),
                               "cpu_pct": spread([r["process_cpu_pct"] - floor for r in rs])}
        if isinstance(cond, (BenchMeter, Wakeups)):
            row["rate_hz"] = cond.rate_hz
            row["achieved_rate_hz"] = spread([r["rate_hz"] for r in rs])
            row["cpu_per_poll_us"] = spread([r["cpu_per_poll_us"] for r in rs])
        rows.append(row)
    return rows


def rate_under_load(rate_hz: float, window_s: float, tmp: Path) -> dict[str, Any]:
    """The meter at ``rate_hz`` while a child process spins on a core; the rate it held (meter and trace)."""
    from bench.result.trace import read_trace

    spinner = subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"])
    try:
        time.sleep(0.5)
        cond = BenchMeter(rate_hz, tmp)
        row = measure(cond, 1.0, window_s)
    finally:
        spinner.kill()
        spinner.wait()
    table = read_trace(cond.folder, columns=["t_ns"])
    t = sorted(table.column("t_ns").to_pylist())
    span = (t[-1] - t[0]) / 1e9 if len(t) > 1 else 0.0
    stats = cond.stats()
    return {"rate_hz": rate_hz, "window_s": row["wall_s"], "achieved_rate_hz": row["rate_hz"],
            "whole_run_rate_hz": stats["achieved_rate_hz"], "trace_rate_hz": (len(t) - 1) / span if span else None,
            "interval_p50_s": stats["interval_p50_s"], "interval_p99_s": stats["interval_p99_s"],
            "thread_cpu_pct": row["thread_cpu_pct"], "cpu_per_poll_us": row["cpu_per_poll_us"],
            "share": row["rate_hz"] / rate_hz, "target_share": RATE_TARGET_SHARE,
            "met": row["rate_hz"] >= RATE_TARGET_SHARE * rate_hz}


def cold_costs(samples: int = COLD_SAMPLES) -> dict[str, Any]:
    """CPU (us, median) of an empty call and of the estimate sampler's read, back to back and after each sleep
    of ``COLD_SLEEPS_S``, and of the wake-up from that sleep; measured on a thread of its own."""
    from bench.samplers.estimate import EstimateSampler

    out: dict[str, Any] = {}

    def nothing() -> None:
        return None

    def work() -> None:
        clock, sleep = time.thread_time_ns, time.sleep
        sampler = EstimateSampler.open("cpu")[0]
        try:
            for name, fn in (("empty call", nothing), ("estimate read", sampler.read)):
                row: dict[str, float] = {}
                hot = []
                for _ in range(samples):
                    t = clock()
                    fn()
                    hot.append(clock() - t)
                row["back_to_back_us"] = statistics.median(hot) / 1e3
                for pause in COLD_SLEEPS_S:
                    after, wake = [], []
                    for _ in range(samples):
                        t0 = clock()
                        sleep(pause)
                        t1 = clock()
                        fn()
                        after.append(clock() - t1)
                        wake.append(t1 - t0)
                    row[f"after_{pause * 1e3:g}ms_us"] = statistics.median(after) / 1e3
                    out.setdefault("wake_up", {})[f"after_{pause * 1e3:g}ms_us"] = statistics.median(wake) / 1e3
                out[name] = row
        finally:
            sampler.close()

    th = threading.Thread(target=work, name="cold-costs")
    th.start()
    th.join()
    return out


def targets(rows: list[dict[str, Any]], rate: dict[str, Any] | None) -> dict[str, Any]:
    by = {r["condition"]: r for r in rows}
    cc = by.get(f"codecarbon@{1 / CODECARBON_INTERVAL_S:g}Hz")
    out: dict[str, Any] = {}
    if cc and "bench@10Hz" in by:
        mine, theirs = by["bench@10Hz"]["cpu_pct"]["median"], cc["cpu_pct"]["median"]
        out["10hz_vs_codecarbon"] = {"bench_pct": mine, "codecarbon_pct": theirs, "met": mine <= theirs}
    if "bench@100Hz" in by:
        mine = by["bench@100Hz"]["cpu_pct"]["median"]
        out["100hz_under_1pct"] = {"bench_pct": mine, "limit_pct": CPU_TARGET_100HZ_PCT,
                                   "met": mine < CPU_TARGET_100HZ_PCT}
    if rate is not None:
        out["1khz_held_under_load"] = {"share": rate["share"], "limit": RATE_TARGET_SHARE, "met": rate["met"]}
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = ["| condition | CPU above idle, % of a core: median (min..max) | whole process | its own thread "
             "| its thread per poll (us) | rate held (Hz) |", "|---|---|---|---|---|---|"]
    for r in report["results"]:
        c, p, t = r["cpu_pct"], r["process_cpu_pct"], r["thread_cpu_pct"]
        own = f"{t['median']:.3f}" if "cpu_per_poll_us" in r else "-"
        per_poll = f"{r['cpu_per_poll_us']['median']:.0f}" if "cpu_per_poll_us" in r else "-"
        rate = f"{r['achieved_rate_hz']['median']:.1f}" if "achieved_rate_hz" in r else "-"
        lines.append(f"| {r['condition']} | {c['median']:.3f} ({c['min']:.3f}..{c['max']:.3f}) "
                     f"| {p['median']:.3f} | {own} | {per_poll} | {rate} |")
    cold = report.get("cold")
    if cold:
        pauses = [f"after_{p * 1e3:g}ms_us" for p in COLD_SLEEPS_S]
        lines += ["", "| CPU of (us, median) | back to back | " + " | ".join(
            f"right after {p * 1e3:g} ms asleep" for p in COLD_SLEEPS_S) + " |", "|---|---|" + "---|" * len(pauses)]
        for name, row in cold.items():
            first = f"{row['back_to_back_us']:.1f}" if "back_to_back_us" in row else "-"
            label = {"wake_up": "the wake-up from the sleep", "estimate read": "the estimate sampler's read"}
            lines.append(f"| {label.get(name, name)} | {first} | " + " | ".join(f"{row[p]:.1f}" for p in pauses)
                         + " |")
    rate = report.get("rate_under_load")
    if rate:
        lines += ["", "| rate asked (Hz) | held, window (Hz) | held, trace (Hz) | interval p50 / p99 (ms) "
                  "| CPU, % of a core | held / asked | target |", "|---|---|---|---|---|---|---|"]
        lines.append(f"| {rate['rate_hz']:g} | {rate['achieved_rate_hz']:.1f} | {rate['trace_rate_hz']:.1f} "
                     f"| {1e3 * rate['interval_p50_s']:.3f} / {1e3 * rate['interval_p99_s']:.3f} "
                     f"| {rate['thread_cpu_pct']:.2f} | {rate['share']:.1%} | >= {rate['target_share']:.0%} "
                     f"({'met' if rate['met'] else 'not met'}) |")
    return "\n".join(lines)


def docs_section(report: dict[str, Any]) -> str:
    m, cfg, t = report["machine"], report["config"], report["targets"]
    said = []
    if "10hz_vs_codecarbon" in t:
        x = t["10hz_vs_codecarbon"]
        said.append(f"at 10 Hz the meter took {x['bench_pct']:.3f}% of a core against CodeCarbon's "
                    f"{x['codecarbon_pct']:.3f}% at 1 Hz ({'met' if x['met'] else 'not met'})")
    if "100hz_under_1pct" in t:
        x = t["100hz_under_1pct"]
        said.append(f"at 100 Hz {x['bench_pct']:.3f}% (target under 1%: {'met' if x['met'] else 'not met'})")
    by = {r["condition"]: r for r in report["results"]}
    floors = [f"{by[f'wakeups@{r:g}Hz']['cpu_pct']['median']:.3f}% at {r:g} Hz" for r in cfg["rates_hz"]
              if f"wakeups@{r:g}Hz" in by]
    if floors:
        said.append("a thread that only sleeps and wakes at the rate, reading nothing, took " + " and ".join(floors))
    loops = [f"{by[f'loop@{r:g}Hz']['cpu_pct']['median']:.3f}% at {r:g} Hz" for r in cfg["rates_hz"]
             if f"loop@{r:g}Hz" in by]
    if loops:
        said.append("the same wake-ups with the sensor's read and the trace's writes but none of the meter's "
                    "bookkeeping took " + " and ".join(loops))
    cold = report.get("cold")
    if cold:
        w, r = cold["wake_up"], cold["estimate read"]
        said.append(f"waking from 100 ms of sleep took {w['after_100ms_us']:.0f} us of CPU, and the estimate "
                    f"sampler's read cost {r['after_100ms_us']:.0f} us right after it against "
                    f"{r['back_to_back_us']:.0f} us back to back")
    if "1khz_held_under_load" in t:
        x = t["1khz_held_under_load"]
        said.append(f"1000 Hz held at {x['share']:.1%} of the rate with the other core busy (target 90%: "
                    f"{'met' if x['met'] else 'not met'})")
    return (f"Run {report['date']}: `{report['command']}` ({cfg['rounds']} rounds of {cfg['window_s']:g} s per "
            f"condition after {cfg['settle_s']:g} s to settle; rate test {cfg['window_s']:g} s). Machine: "
            f"{m['nproc']} cores (`{m['cpu_model']}`), Python {m['python']}, codecarbon {report['codecarbon']}; load "
            f"average {m['loadavg_start'][0]:g} at start, {m['loadavg_end'][0]:g} at the end. Raw figures: "
            f"[data/meter_cost.json](data/meter_cost.json).\n\n**Result:** " + "; ".join(said) + ".\n\n"
            + markdown(report))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one short round (figures meaningless)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=float, default=20.0, help="measured seconds per condition (default 20)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after start not counted (default 3)")
    p.add_argument("--rates", default="10,100", help="meter rates in Hz, comma-separated (default 10,100)")
    p.add_argument("--no-rate-test", action="store_true", help="skip the 1000 Hz test with a core busy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--docs", action="store_true", help="write docs/data/meter_cost.json and docs/performance.md")
    p.add_argument("--docs-from", type=Path, metavar="JSON", help="measure nothing: rewrite the docs section from a "
                   "report this script wrote before (its --out, or docs/data/meter_cost.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.window, args.settle = 1, 1.5, 1.2
    return args


def main(argv: list[str] | None = None) -> int:
    from importlib import metadata

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    args = parse_args(argv)
    if args.docs_from:
        report = json.loads(args.docs_from.read_text())
        write_section("performance.md", "meter_cost", docs_section(report))
        return 0
    rates = [float(x) for x in args.rates.split(",")]
    machine = machine_info()
    report: dict[str, Any] = {
        "benchmark": "meter_cost",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/meter_cost.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine,
        "codecarbon": metadata.version("codecarbon"),
        "config": {"quick": args.quick, "rounds": args.rounds, "window_s": args.window, "settle_s": args.settle,
                   "rates_hz": rates, "sampler": "estimate", "trace": "streamed to a temporary folder"},
    }
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as name:
        tmp = Path(name)
        report["results"] = cost(rates, args.rounds, args.settle, args.window, tmp, args.seed)
        report["rate_under_load"] = None if args.no_rate_test else rate_under_load(RATE_TARGET_HZ, args.window, tmp)
    report["cold"] = cold_costs(5 if args.quick else COLD_SAMPLES)
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["targets"] = targets(report["results"], report["rate_under_load"])
    report["met"] = all(t["met"] for t in report["targets"].values()) if report["targets"] else None
    emit(report, args.out)
    if args.docs:
        write_data("meter_cost", report)
        write_section("performance.md", "meter_cost", docs_section(report))
    print(markdown(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "main"
    sys.exit(main())
