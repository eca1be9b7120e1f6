"""Does a sweep find the curve it is shown? A power-limit sweep of the example plugin's simulated Acme board, whose
DVFS model (examples/bench-plugin-acme, ``bench_plugin_acme.dvfs``) gives the true steady-state saving and slowdown
of every cap, against what ``bench sweep`` measured.

The board runs as its own process following real time; ``Sweep`` measures gemm (smoke) at every cap, exactly as
``bench sweep --device acme:0 --workload gemm --preset smoke --power-limits ...`` does. Reported per cap: the
model's clock, slowdown and gross-energy saving; the measured ones with their 95% CIs; whether the CI holds the
model's figure; the mean power measured during the repeats against the cap. The example plugin must be installed
(``pip install -e examples/bench-plugin-acme``).

    .venv/bin/python benchmarks/sweep_accuracy.py --write-docs   # docs/data/sweep_accuracy.json and docs/sweeps.md
    .venv/bin/python benchmarks/sweep_accuracy.py --docs-from docs/data/sweep_accuracy.json   # the text only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One host thread, whatever the environment says: the board is handed the host's CPU time as its work, and an idle
# OpenMP worker spins for a while after each parallel region, CPU time that is no work; with one thread every
# CPU-second is gemm's.
os.environ["OMP_NUM_THREADS"] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def model_row(cap_w: float) -> dict:
    from bench_plugin_acme.dvfs import Dvfs

    m = Dvfs()
    top = m.clock_max_mhz
    clock = m.cap_clock_mhz(cap_w)
    energy = m.busy_power_w(clock) / m.speed(clock)
    return {"clock_mhz": clock, "power_w": m.busy_power_w(clock), "slowdown": m.speed(top) / m.speed(clock) - 1,
            "saving": 1 - energy / (m.busy_power_w(top) / m.speed(top)),
            "window_stretch": m.speed(top) / m.speed(clock),
            "window_energy": (m.busy_power_w(clock) / m.speed(clock)) / (m.busy_power_w(top) / m.speed(top))}


BUSY_SHARE = 0.9  # a point whose board was busy for less of its windows than this was starved by the host


def starved(report: dict) -> bool:
    """Whether the host starved the board at some point: each window holds the host work of ``--duration``
    seconds, and only while the host gets enough CPU to submit work faster than the board does it does the
    board stay busy and its clock set the pace. Busy, the board draws its model's busy power; a mean power well
    under it (towards the idle 60 W) means it idled inside the windows, and window lengths then follow the
    host's share of the CPU, not the board's clock."""
    from bench_plugin_acme.dvfs import Dvfs

    m = Dvfs()

    def busy_share(power_w: float | None, busy_w: float) -> float:
        return 0.0 if power_w is None else (power_w - m.idle_w) / (busy_w - m.idle_w)

    shares = [busy_share(report["baseline"]["power_w"], m.busy_power_w(m.clock_max_mhz))]
    shares += [busy_share(r["measured"]["power_w"], r["model"]["power_w"]) for r in report["rows"]]
    return min(shares) < BUSY_SHARE


def mean_window(result: object) -> tuple[float, float]:
    """Mean length (s) and gross energy (J) of the measured windows. Each holds the same host work (``--duration``
    host seconds of compute, which the board executes at its clock), so window against window compares the board's
    time and energy for the same work. Per unit, the host's CPU cost of a unit enters too, and that moves with
    whatever else the host runs; per window it cancels."""
    repeats = result.workload("gemm").repeats  # type: ignore[attr-defined]
    energy = [r.gross_energy_j for r in repeats if r.gross_energy_j is not None]
    return (sum(r.duration_s for r in repeats) / len(repeats),
            sum(energy) / len(energy) if energy else float("nan"))


def run_sweep(tmp: Path, limits: list[float], args: argparse.Namespace) -> tuple[Path, object]:
    from bench.result.sweep import load_points, load_sweep
    from bench.run.config import RunConfig
    from bench.sweep.config import SweepConfig
    from bench.sweep.sweeper import Sweep
    from bench.workload import WorkloadParams

    run = RunConfig(device="acme:0", workloads=[("gemm", WorkloadParams(preset="smoke"))], idle_s=args.idle,
                    warmup_min_s=0.0, warmup_max_s=args.warmup_max, repeats=args.repeats, duration_s=args.duration,
                    rate_hz=20.0, out=tmp / "out", name="sweep")
    folder, record = Sweep(SweepConfig(run=run, power_limits_w=limits)).run()
    folder, record = load_sweep(folder)
    return folder, (record, *load_points(folder, record))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limits", default="280,250,200,150,120,100", help="caps in W (the board's range is 100-300)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration", type=float, default=2.0, help="host seconds of each measured window")
    ap.add_argument("--warmup-max", type=float, default=3.0)
    ap.add_argument("--idle", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true", help="one cap, short windows: shows the script works")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--write-docs", action="store_true", help="write docs/data/sweep_accuracy.json and the table "
                    "in docs/sweeps.md")
    ap.add_argument("--docs-from", type=Path, metavar="JSON", help="measure nothing: rewrite the docs from a report "
                    "this script wrote before (its --out, or docs/data/sweep_accuracy.json)")
    args = ap.parse_args()
    if args.docs_from:
        report = json.loads(args.docs_from.read_text())
        write_docs(report, render_table(report))
        return
    if args.quick:
        args.limits, args.repeats, args.duration, args.warmup_max, args.idle = "100", 3, 0.3, 0.0, 0.3
    limits = [float(x) for x in args.limits.split(",")]

    from _machine import machine_info  # beside this script

    from bench.analysis.sweep import analyse

    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-accuracy-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["ACME_SYSFS"] = str(tmp / "acme")
        os.environ["BENCH_STATE_DIR"] = str(tmp / "state")
        board = subprocess.Popen([sys.executable, "-m", "bench_plugin_acme.fake", str(tmp / "acme")],
                                 stdout=subprocess.PIPE, text=True)
        try:
            board.stdout.readline()
            t0 = time.perf_counter()
            folder, (record, points, folders, missing) = run_sweep(tmp, limits, args)
            seconds = time.perf_counter() - t0
        finally:
            from bench_plugin_acme.simwork import HostWork

            HostWork.close_all()  # stop feeding the board before its folder goes
            board.terminate()
            board.wait(timeout=30)
        ws = analyse(points, "gross", 0.05, folders).workload("gemm")
    results = dict(points)
    base_window_s, base_window_j = mean_window(results[ws.points[0].label])
    rows = []
    for p in ws.points:
        if p.baseline:
            continue
        model = model_row(p.power_limit_w)
        window_s, window_j = mean_window(results[p.label])
        rows.append({
            "cap_w": p.power_limit_w, "model": model,
            "measured": {"saving": p.saving, "saving_ci": [p.saving_low, p.saving_high], "slowdown": p.slowdown,
                         "slowdown_ci": [p.slowdown_low, p.slowdown_high], "power_w": p.power_w,
                         "clock_mhz": p.mean_clock_mhz, "repeats": p.n, "on_frontier": p.on_frontier,
                         "window_stretch": window_s / base_window_s, "window_energy": window_j / base_window_j},
            "saving_in_ci": None if p.saving_low is None else p.saving_low <= model["saving"] <= p.saving_high,
            "slowdown_in_ci": None if p.slowdown_low is None else
            p.slowdown_low <= model["slowdown"] <= p.slowdown_high,
        })
    base = ws.points[0]
    out = {"benchmark": "sweep_accuracy", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": {**machine, "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
           "settings": {"limits_w": limits, "repeats": args.repeats, "duration_s": args.duration,
                        "warmup_max_s": args.warmup_max, "idle_s": args.idle, "quick": args.quick},
           "sweep_s": seconds, "status": record.status, "restored": record.restored.ok if record.restored else None,
           "baseline": {"power_w": base.power_w, "clock_mhz": base.mean_clock_mhz, "repeats": base.n,
                        "window_s": base_window_s, "window_j": base_window_j},
           "recommendations": [{"kind": r.kind, "point": r.point, "saving": r.saving, "slowdown": r.slowdown}
                               for r in ws.recommendations],
           "missing": missing, "rows": rows}
    out["starved"] = starved(out)
    if out["starved"]:
        print("sweep_accuracy: the host could not keep the simulated board busy (another load took its CPU): "
              "these figures measure the host, not the sweep", file=sys.stderr)
    from _docs import emit  # beside this script

    emit(out, args.out, allow_nan=False)
    table = render_table(out)
    print(table, file=sys.stderr)
    if args.write_docs:
        write_docs(out, table)


def render_table(report: dict) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    def ci(pair: list) -> str:
        return "unbounded" if None in pair else f"{pair[0]:.1%} to {pair[1]:.1%}"

    b = report["baseline"]
    lines = ["| cap W | clock MHz: model / measured | power W | window length / as found: model / measured | "
             "window energy / as found: model / measured | slowdown: model / measured (95% CI) | "
             "saving: model / measured (95% CI) |", "|---|---|---|---|---|---|---|",
             f"| as found (300) | 1800 / {b['clock_mhz']:.4g} | {b['power_w']:.4g} | 1 ({b['window_s']:.2f} s) | "
             f"1 ({b['window_j']:.4g} J) | - | - |"]
    for r in report["rows"]:
        m, x = r["model"], r["measured"]
        lines.append(f"| {r['cap_w']:g} | {m['clock_mhz']} / {x['clock_mhz']:.4g} | {x['power_w']:.4g} | "
                     f"{m['window_stretch']:.2f} / {x['window_stretch']:.2f} | "
                     f"{m['window_energy']:.3f} / {x['window_energy']:.3f} | {pct(m['slowdown'])} / "
                     f"{pct(x['slowdown'])} ({ci(x['slowdown_ci'])}) | {pct(m['saving'])} / {pct(x['saving'])} "
                     f"({ci(x['saving_ci'])}) |")
    return "\n".join(lines)


def write_docs(report: dict, table: str) -> None:
    from _docs import write_data, write_section  # beside this script

    s, m = report["settings"], report["machine"]
    stamp = (f"Produced by `.venv/bin/python benchmarks/sweep_accuracy.py --write-docs` on {report['date']}: "
             f"{s['repeats']} repeats of {s['duration_s']:g} s of host compute per cap, the sweep took "
             f"{report['sweep_s']:.0f} s; load average {m['loadavg_start']} at the start, {m['loadavg_end']} at "
             "the end.")
    rows = report["rows"]

    def worst(key: str) -> float:
        return max(abs(r["measured"][key] / r["model"][key] - 1) for r in rows)

    per_window = (f"Per window (the same host work), the measured length lies within {worst('window_stretch'):.1%} "
                  f"of the model's at every cap and the energy within {worst('window_energy'):.1%}.")
    inside = (f"Per unit, the model's figure lies inside the measured 95% CI for the slowdown at "
              f"{sum(bool(r['slowdown_in_ci']) for r in rows)} of {len(rows)} caps and for the saving at "
              f"{sum(bool(r['saving_in_ci']) for r in rows)} of {len(rows)}.")
    write_data("sweep_accuracy", report)
    write_section("sweeps.md", "sweep_accuracy", f"{stamp}\n\n{table}\n\n{per_window} {inside}")

if __name__ == "__main__":
    main()
