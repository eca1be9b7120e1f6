"""Time `bench report` and `bench compare` on many synthetic result folders (sealed like real runs).

    python benchmarks/report_scale.py --results 200 --workers 2

Prints the generation time, the report's build time and size, and the compare time.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from results_factory import make_result  # noqa: E402

DEVICES = ["Acme X1", "Acme X2", "Borealis 7", "Cirrus NPU", "Delta G4"]
WORKLOADS = [("gemm", "matmul", 0.2), ("llm-decode", "token", 0.12), ("resnet50-infer", "image", 0.4)]


def generate(root: Path, count: int, seed: int = 1) -> list[Path]:
    rng = random.Random(seed)
    folders = []
    for i in range(count):
        name, unit, base = WORKLOADS[i % len(WORKLOADS)]
        dev = DEVICES[rng.randrange(len(DEVICES))]
        mean = base * rng.uniform(0.5, 2.0)
        values = [mean * rng.gauss(1.0, 0.02) for _ in range(5)]
        units = max(10, int(300.0 * 30.0 / mean))
        folders.append(make_result(root / f"run-{i:04d}", values, device=dev, workload=name, unit=unit,
                                   units=units, duration_s=30.0, idle_s=10.0, warmup_s=10.0, rate_hz=10.0,
                                   quality_level=rng.choice([1, 2, 2, 2])))
    return folders


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (the report's worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=int, default=200)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--fmt", default="png")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        generate(root / "results", args.results)
        print(f"generated {args.results} results in {time.perf_counter() - t:.1f} s")
        from bench.report.page import write_report

        c = cpu_s()
        s = write_report([root / "results"], root / "report.html", workers=args.workers, fmt=args.fmt)
        print(f"report: {s.runs} runs, {s.rows} rows, {s.size_bytes / 1e6:.2f} MB, {s.seconds:.1f} s wall, "
              f"{cpu_s() - c:.1f} s CPU")
        c = cpu_s()
        s = write_report([root / "results"], root / "report.html", traces=False)
        print(f"report without traces: {s.size_bytes / 1e6:.2f} MB, {s.seconds:.1f} s wall, {cpu_s() - c:.1f} s CPU")
        from bench.analysis.compare import compare_frame
        from bench.analysis.frame import load_results

        t = time.perf_counter()
        comp = compare_frame(load_results([root / "results"]))
        print(f"compare: {len(comp)} rows in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
