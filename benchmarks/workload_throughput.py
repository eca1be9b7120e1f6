"""Throughput of every smoke workload on this machine, eager and with ``--compile``.

Each (workload, mode) is set up the way ``bench run`` sets it up, warmed with a few steps, then timed
for ``--seconds`` of whole steps; eager and compiled alternate per workload over ``--rounds`` and the
median is reported. Set-up time (which includes a cold compile) is reported separately.

    .venv/bin/python benchmarks/workload_throughput.py --out docs/data/workload_throughput.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(name: str, compile_: bool, seconds: float, warm_steps: int = 3) -> dict:
    from bench import plugins
    from bench.devices import open_device
    from bench.workload import WorkloadParams

    device = open_device("cpu")
    wl = plugins.load("workloads", name)(WorkloadParams(preset="smoke", compile=compile_))
    t0 = time.perf_counter()
    info = wl.setup(device)
    setup_s = time.perf_counter() - t0
    try:
        for _ in range(warm_steps):
            wl.step()
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            wl.step()
            steps += 1
        elapsed = time.perf_counter() - t0
    finally:
        wl.teardown()
    return {"units_per_s": steps * info.units_per_step / elapsed, "setup_s": setup_s,
            "compiled": bool(info.optimizations.get("compile")), "unit": info.unit,
            "settings": {k: v for k, v in info.settings.items() if isinstance(v, (int, str, float))}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default="gemm,resnet50-infer,resnet50-train,bert-infer,llm-prefill,llm-decode,llm-train")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import os

    import torch

    rows = []
    for name in args.workloads.split(","):
        runs: dict[bool, list[dict]] = {False: [], True: []}
        for _ in range(args.rounds):
            for mode in (False, True):
                runs[mode].append(measure(name, mode, args.seconds))
        eager, comp = runs[False], runs[True]
        rows.append({
            "workload": name, "unit": eager[0]["unit"], "settings": eager[0]["settings"],
            "eager_units_per_s": statistics.median(r["units_per_s"] for r in eager),
            "compiled_units_per_s": statistics.median(r["units_per_s"] for r in comp),
            "compiled": all(r["compiled"] for r in comp),
            "first_compile_setup_s": comp[0]["setup_s"],
            "eager_spread": (max(r["units_per_s"] for r in eager) - min(r["units_per_s"] for r in eager))
            / statistics.median(r["units_per_s"] for r in eager),
        })
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "cores": os.cpu_count(), "load_avg": os.getloadavg(),
           "seconds": args.seconds, "rounds": args.rounds, "rows": rows}
    from _docs import emit  # beside this script

    emit(out, args.out)
    print("\n| workload | unit | eager units/s | compiled units/s | ratio | eager spread | first compile set-up (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["compiled_units_per_s"] / r["eager_units_per_s"]
        print(f"| {r['workload']} | {r['unit']} | {r['eager_units_per_s']:.4g} | {r['compiled_units_per_s']:.4g} | "
              f"{ratio:.2f} | {r['eager_spread']:.0%} | {r['first_compile_setup_s']:.1f} |")


if __name__ == "__main__":
    main()
