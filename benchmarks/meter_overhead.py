"""Meter overhead: how much a running meter slows a CPU-bound torch workload.

The workload is a fixed number of fp32 ``n x n`` matmuls (``torch.matmul`` into a preallocated
output), timed with ``time.perf_counter``. Conditions: no meter ("off"), and a meter polling one
sampler at each rate, streaming its trace to a temporary folder exactly as a run does. Samplers:
``replay`` (a generated 1 ms trace, looped) and ``estimate`` (utilisation from ``/proc/stat`` x
rated power). All conditions run in the same process, interleaved in a shuffled order within each
round and each metered run between two "off" runs, so drift of a shared machine hits all of them
alike; the slowdown of a condition is the median over rounds of (its time / the mean time of its
two neighbouring "off" runs).

Also reported per condition, as figures less exposed to other processes than wall time: the meter
thread's own CPU time (from ``/proc/self/task/TID/schedstat``, in % of one core and per poll), the
workload's CPU time (process CPU time minus the meter thread's) relative to its neighbouring "off"
runs, and the rate the meter achieved while the workload ran.

Usage::

    python benchmarks/meter_overhead.py [--quick] [--out FILE] [--threads default,1]

JSON goes to stdout (and ``--out``); a markdown table goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from _docs import emit  # noqa: E402  (beside this script)
from _machine import machine_info  # noqa: E402  (beside this script)

TARGET_10HZ_PCT = 1.0


def quantiles(xs: list[float]) -> dict[str, float]:
    """Median, quartiles and range of ``xs``."""
    from bench.analysis.stats import percentile

    s = sorted(xs)
    return {"median": percentile(s, 50), "p25": percentile(s, 25), "p75": percentile(s, 75),
            "min": s[0], "max": s[-1]}


# --- workload ------------------------------------------------------------------------------------


class MatmulWork:
    """``count`` fp32 matmuls of ``size x size``; :meth:`run` returns the wall time (s)."""

    def __init__(self, size: int, seed: int = 0) -> None:
        import torch

        gen = torch.Generator().manual_seed(seed)
        self.size = size
        self.a = torch.randn(size, size, generator=gen)
        self.b = torch.randn(size, size, generator=gen)
        self.out = torch.empty(size, size)
        self.count = 1

    def run(self, count: int | None = None) -> float:
        import torch

        n = self.count if count is None else count
        t0 = time.perf_counter()
        for _ in range(n):
            torch.matmul(self.a, self.b, out=self.out)
        return time.perf_counter() - t0

    def calibrate(self, round_s: float) -> int:
        """Set the matmul count so one run takes about ``round_s`` seconds; returns it."""
        self.run(3)
        n, t = 4, 0.0
        while t < 0.2:
            n *= 2
            t = self.run(n)
        self.count = max(1, int(round(n * round_s / t)))
        return self.count


# --- meters --------------------------------------------------------------------------------------


def open_sampler(kind: str, trace: Path):
    """One fresh sampler of ``kind`` ("replay" or "estimate")."""
    if kind == "replay":
        from bench.samplers.replay import ReplaySampler

        return ReplaySampler.open("cpu", trace=trace, loop="true")[0]
    if kind == "estimate":
        from bench.samplers.estimate import EstimateSampler

        return EstimateSampler.open("cpu")[0]
    raise ValueError(f"unknown sampler {kind!r}; choices: replay, estimate")


def thread_cpu_s(tid: int) -> float | None:
    """CPU time (s) thread ``tid`` of this process has run: schedstat (ns), else stat (ticks)."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def timed_round(work: MatmulWork, cond: dict[str, Any], trace: Path, tmp: Path) -> dict[str, Any]:
    """Run the workload once under ``cond``; the meter starts before and stops after the timing."""
    if cond["sampler"] is None:
        cpu0 = time.process_time()
        elapsed = work.run()
        return {"time_s": elapsed, "work_cpu_s": time.process_time() - cpu0}
    from bench.meter.meter import Meter
    from bench.result.trace import finalize

    folder = Path(tempfile.mkdtemp(dir=tmp))
    sampler = open_sampler(cond["sampler"], trace)
    before = {t.native_id for t in threading.enumerate()}
    meter = Meter([sampler], rate_hz=cond["rate_hz"], folder=folder)
    meter.start()
    tids = [t.native_id for t in threading.enumerate() if t.native_id not in before]
    cpu0, proc0 = sum(thread_cpu_s(t) or 0.0 for t in tids), time.process_time()
    elapsed = work.run()
    cpu1, proc1 = sum(thread_cpu_s(t) or 0.0 for t in tids), time.process_time()
    stats = meter.stats()
    meter.stop()
    t0 = time.perf_counter()
    finalize(folder)
    finalize_s = time.perf_counter() - t0
    sampler.close()
    error = str(meter.error) if meter.error is not None else None
    meter_cpu = cpu1 - cpu0 if tids else None
    return {"time_s": elapsed, "meter_cpu_s": meter_cpu, "work_cpu_s": proc1 - proc0 - (meter_cpu or 0.0),
            "finalize_s": finalize_s,
            "achieved_rate_hz": stats["achieved_rate_hz"], "polls": stats["polls"], "error": error}


def conditions(samplers: list[str], rates: list[float]) -> list[dict[str, Any]]:
    conds: list[dict[str, Any]] = [{"name": "off", "sampler": None, "rate_hz": None}]
    for s in samplers:
        for r in rates:
            conds.append({"name": f"{s}@{r:g}Hz", "sampler": s, "rate_hz": r})
    return conds


def run_setting(work: MatmulWork, conds: list[dict[str, Any]], rounds: int, trace: Path, tmp: Path,
                rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Every metered condition ``rounds`` times, in a shuffled order per round, each between two
    "off" runs (off, A, off, B, off, ...). Each metered run gets ``ref_s``: the mean of its two
    neighbouring "off" times, so its ratio compares runs seconds apart, not a round apart."""
    off_cond, metered = conds[0], conds[1:]
    runs: dict[str, list[dict[str, Any]]] = {c["name"]: [] for c in conds}
    for _ in range(rounds):
        order = metered[:]
        rng.shuffle(order)
        prev = timed_round(work, off_cond, trace, tmp)
        runs["off"].append(prev)
        for cond in order:
            run = timed_round(work, cond, trace, tmp)
            nxt = timed_round(work, off_cond, trace, tmp)
            run["ref_s"] = (prev["time_s"] + nxt["time_s"]) / 2
            run["ref_cpu_s"] = (prev["work_cpu_s"] + nxt["work_cpu_s"]) / 2
            runs[cond["name"]].append(run)
            runs["off"].append(nxt)
            prev = nxt
    return runs


def summarise(conds: list[dict[str, Any]], runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per condition: median time, ratio to the neighbouring "off" runs (median and spread),
    the meter thread's CPU share and the rate it achieved."""
    off = [r["time_s"] for r in runs["off"]]
    rows = []
    for cond in conds:
        rs = runs[cond["name"]]
        times = [r["time_s"] for r in rs]
        row = {**cond, "runs": len(rs), "times_s": times, "median_time_s": statistics.median(times)}
        if cond["sampler"] is not None:
            ratios = [r["time_s"] / r["ref_s"] for r in rs]
            row["ratio"] = quantiles(ratios)
            row["ratios"] = ratios
            row["ratio_of_medians"] = row["median_time_s"] / statistics.median(off)
            row["ratio_of_minima"] = min(times) / min(off)
            row["overhead_pct"] = (row["ratio"]["median"] - 1.0) * 100.0
            row["cpu_ratio"] = quantiles([r["work_cpu_s"] / r["ref_cpu_s"] for r in rs])
            cpu = [r["meter_cpu_s"] for r in rs if r["meter_cpu_s"] is not None]
            rates = [r["achieved_rate_hz"] for r in rs if r["achieved_rate_hz"] is not None]
            row["meter_cpu_pct"] = 100.0 * sum(cpu) / sum(times) if cpu else None
            polls = sum(r["polls"] for r in rs if r["meter_cpu_s"] is not None)
            row["meter_cpu_per_poll_us"] = 1e6 * sum(cpu) / polls if cpu and polls else None
            row["achieved_rate_hz"] = statistics.median(rates) if rates else None
            row["finalize_s"] = statistics.median(r["finalize_s"] for r in rs)
            row["errors"] = sorted({r["error"] for r in rs if r["error"]})
        else:
            row["spread_pct"] = (max(times) - min(times)) / statistics.median(times) * 100.0
        rows.append(row)
    return rows


# --- output --------------------------------------------------------------------------------------


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def markdown(report: dict[str, Any]) -> str:
    """The results as a markdown table."""
    lines = ["| threads | condition | median time (s) | slowdown, median [p25, p75] (min..max) "
             "| ratio of minima | workload CPU time, median ratio | meter CPU (% of a core) | CPU per poll (us) "
             "| achieved rate (Hz) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for setting in report["settings"]:
        for row in setting["results"]:
            if row["sampler"] is None:
                slow = f"reference (runs spread {row['spread_pct']:.1f}%)"
            else:
                r = row["ratio"]
                slow = (f"{row['overhead_pct']:+.2f}% [{(r['p25'] - 1) * 100:+.2f}, {(r['p75'] - 1) * 100:+.2f}] "
                        f"({(r['min'] - 1) * 100:+.2f}..{(r['max'] - 1) * 100:+.2f})")
            mins = _fmt(row.get("ratio_of_minima"), ".4f")
            cpu_ratio = _fmt(row["cpu_ratio"]["median"] if "cpu_ratio" in row else None, ".4f")
            cpu = _fmt(row.get("meter_cpu_pct"), ".2f")
            per_poll = _fmt(row.get("meter_cpu_per_poll_us"), ".0f")
            rate = _fmt(row.get("achieved_rate_hz"), ".1f")
            lines.append(f"| {setting['threads']} | {row['name']} | {row['median_time_s']:.3f} | {slow} "
                         f"| {mins} | {cpu_ratio} | {cpu} | {per_poll} | {rate} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny run for smoke tests (figures meaningless)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    p.add_argument("--round-s", type=float, default=2.0, help="workload time per timed run (s)")
    p.add_argument("--rates", default="10,100,1000", help="meter rates in Hz, comma-separated")
    p.add_argument("--samplers", default="replay,estimate", help="samplers, comma-separated")
    p.add_argument("--threads", default="1,default",
                   help="torch intra-op thread counts, comma-separated; 'default' is torch's own choice")
    p.add_argument("--size", type=int, default=512, help="matrix size n (fp32 n x n matmuls)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    if args.quick:
        # one thread: an oversubscribed 2-thread matmul can stall for seconds on a busy machine
        args.rounds, args.round_s, args.rates, args.size, args.threads = 2, 0.2, "10,100", 256, "1"
    return args


def thread_counts(spec: str, default: int) -> list[int]:
    out = []
    for part in spec.split(","):
        part = part.strip()
        out.append(default if part in ("default", "0", "") else int(part))
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    from bench.conformance.traces import steps, write_profile_trace

    args = parse_args(argv)
    rates = [float(x) for x in args.rates.split(",")]
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    machine = machine_info()
    conds = conditions(samplers, rates)
    rng = random.Random(args.seed)
    report: dict[str, Any] = {
        "benchmark": "meter_overhead",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/meter_overhead.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine,
        "config": {"quick": args.quick, "rounds": args.rounds, "round_s": args.round_s, "rates_hz": rates,
                   "samplers": samplers, "size": args.size, "dtype": "fp32", "trace_folder": "tempfile"},
        "target": {"overhead_10hz_pct_max": TARGET_10HZ_PCT},
        "settings": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        trace_s = max(3.0, args.round_s + 2.0)  # looped, so a round never waits on re-reading it
        trace = write_profile_trace(tmp / "source", steps([(0.0, 120.0), (0.5, 250.0), (1.5, 180.0)], trace_s))
        for threads in thread_counts(args.threads, machine["torch_default_threads"]):
            torch.set_num_threads(threads)
            work = MatmulWork(args.size, args.seed)
            count = work.calibrate(args.round_s)
            for cond in conds:  # warm-up: imports, first trace writer, first sampler of each kind
                if cond["sampler"] is not None and cond["rate_hz"] == rates[0]:
                    timed_round(work, cond, trace, tmp)
            runs = run_setting(work, conds, args.rounds, trace, tmp, rng)
            report["settings"].append({"threads": threads, "matmuls_per_round": count,
                                       "results": summarise(conds, runs)})
        torch.set_num_threads(machine["torch_default_threads"])
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["target"]["met"] = target_met(report)
    emit(report, args.out)
    print(markdown(report), file=sys.stderr)
    return 0


def target_met(report: dict[str, Any]) -> bool | None:
    """Whether every 10 Hz condition's median slowdown is under the target (None: none ran)."""
    at10 = [row["overhead_pct"] for s in report["settings"] for row in s["results"] if row["rate_hz"] == 10.0]
    if not at10:
        return None
    return all(math.isfinite(x) and x < TARGET_10HZ_PCT for x in at10)


if __name__ == "__main__":
    sys.exit(main())
