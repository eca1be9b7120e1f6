"""A 24-hour run at 100 Hz on one GPU, simulated: the replay sampler on an accelerated clock.

Measures what matters for long runs: peak RSS while measuring (8.6 million samples), that the trace
on disk is readable at every checkpoint while the run goes on, and the time and peak memory of
finishing it (Parquet compaction), checking its validity (a full pass over the trace) and scoring it.

    .venv/bin/python benchmarks/long_run.py                 # 24 h, figures as JSON and a table
    .venv/bin/python benchmarks/long_run.py --hours 1 --quick
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    """Current resident set size (MB) from /proc, and the peak so far from getrusage."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rows_on_disk(stream: Path) -> int:
    """Rows readable from the in-progress trace, counted by a separate process (not this one's memory)."""
    import subprocess

    code = ("import sys; from bench.result.trace import iter_batches; "
            "print(sum(b.num_rows for b in iter_batches(sys.argv[1])))")
    out = subprocess.run([sys.executable, "-c", code, str(stream)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    return int(out.stdout.strip())


def build_source(folder: Path) -> Path:
    """Ten minutes of a GPU at 100 Hz: idle, ramps and steps, with an energy counter (looped by replay)."""
    from bench.conformance.traces import steps, write_profile_trace

    prof = steps([(0, 90.0), (60, 620.0), (240, 480.0), (420, 700.0), (540, 150.0)], 600.0)
    return write_profile_trace(folder, prof, resolution_s=0.01, channel="cuda:0", update_period_s=0.01)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--checkpoint-minutes", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="skip scoring (for the smoke test)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    from bench.clock import SimClock
    from bench.meter.meter import Meter
    from bench.result.trace import STREAM_FILE, finalize
    from bench.samplers.replay import ReplaySampler

    tmp = Path(tempfile.mkdtemp(prefix="bench-longrun-"))
    source = build_source(tmp / "source")
    run = tmp / "run"
    run.mkdir()
    clock = SimClock()
    sampler = ReplaySampler.open("cpu", trace=source, clock=clock, loop="1")  # a replay stands in for the host
    meter = Meter(sampler, rate_hz=args.rate, clock=clock, threaded=False, folder=run, flush_s=5.0)
    rss_start = rss_mb()
    t0 = time.perf_counter()
    meter.start()
    checkpoints = []
    total_s = args.hours * 3600
    step_s = args.checkpoint_minutes * 60
    done = 0.0
    k = 0
    while done < total_s - 1e-9:
        k += 1
        chunk = min(step_s, total_s - done)
        meter.open_window(f"hour.{k}")
        meter.run_for(chunk)
        win = meter.close_window(f"hour.{k}")
        done += chunk
        meter.writer.flush()
        readable = rows_on_disk(run / STREAM_FILE)  # read by another process, as a user would mid-run
        checkpoints.append({"simulated_h": round(done / 3600, 3), "rss_mb": round(rss_mb(), 1),
                            "rows_on_disk": readable, "window_energy_j": win.energy_j,
                            "wall_s": round(time.perf_counter() - t0, 1)})
    meter.stop()
    measure_wall = time.perf_counter() - t0
    measure_peak = peak_rss_mb()
    t1 = time.perf_counter()
    finalize(run)
    finalize_wall = time.perf_counter() - t1
    out = {
        "simulated_hours": args.hours,
        "rate_hz": args.rate,
        "samples": meter.samples,
        "trace_mb": round((run / "trace.parquet").stat().st_size / 2**20, 1),
        "measure_wall_s": round(measure_wall, 1),
        "measure_peak_rss_mb": round(measure_peak, 1),
        "rss_start_mb": round(rss_start, 1),
        "rss_growth_after_first_checkpoint_mb": round(max(c["rss_mb"] for c in checkpoints) - checkpoints[0]["rss_mb"], 1),
        "finalize_wall_s": round(finalize_wall, 1),
        "checkpoints": checkpoints,
    }
    if not args.quick:
        out.update(score(meter, run))
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    from _docs import emit  # beside this script

    emit(out, args.out)


def score(meter, run: Path) -> dict:
    """Build the result a runner would, then time validity (full trace pass) and scoring."""
    from bench.analysis.scoring.profiles import load_profiles
    from bench.analysis.scoring.score import score_result
    from bench.analysis.scoring.standard import load_standard
    from bench.analysis.validity import check_validity
    from bench.result.io import write_result
    from bench.result.model import ChannelInfo, Measurement, Result, TraceRef

    caps = meter.channels[0].caps
    st = meter.stats()
    res = Result(run_id="longrun", created_utc="2026-01-01T00:00:00+00:00", status="complete",
                 harness={"name": "bench"}, config={"rate_hz": meter.rate_hz}, provenance={},
                 device={"name": "NVIDIA H100 80GB HBM3", "type": "cuda"},
                 measurement=Measurement(sampler="replay", rate_hz=meter.rate_hz, samples=meter.samples,
                                         achieved_rate_hz=st["achieved_rate_hz"],
                                         channels=[ChannelInfo(channel=meter.channels[0].name, sampler="replay",
                                                               capabilities=caps.to_dict())]),
                 windows=meter.windows, trace=TraceRef(rows=meter.samples))
    before = peak_rss_mb()
    t = time.perf_counter()
    checks = check_validity(res, run)
    validity_wall = time.perf_counter() - t
    write_result(res, run)
    t = time.perf_counter()
    score_result(res, load_standard(), load_profiles())
    score_wall = time.perf_counter() - t
    return {"validity_wall_s": round(validity_wall, 1), "validity_checks": len(checks),
            "validity_failed": [c.check for c in checks if not c.ok],
            "score_wall_s": round(score_wall, 3), "peak_rss_before_scoring_mb": round(before, 1)}


if __name__ == "__main__":
    main()
