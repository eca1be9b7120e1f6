"""Cost of one begin/end window pair: bench's Python API beside Zeus's ``ZeusMonitor.begin_window/end_window``.

Both read the same NVML: the faithful fake (:mod:`bench.conformance.fake_nvml`, an H100 whose energy counter
refreshes every 10 ms) installed as ``pynvml``, so they are timed on the same footing on a machine without a GPU.
With ``--real`` both use the real NVML and GPU 0 instead (``cuda:0``).

What one pair does:

- bench (``Session.begin_window`` + ``end_window``, device sync off and on): a health check, the device sync,
  an edge read of every channel on the meter's own thread (the caller waits for it), the window's accounting,
  the sensors' health at the edge, the repeat figures (gross, idle, net) and a rewrite of the provisional
  ``result.json``, so a killed program keeps every window;
- Zeus (``sync_execution=False`` and ``True``): reads the energy counter (and the time) at each edge in the
  caller's thread and keeps them in memory.

Zeus is not a dependency of bench. Install it beside bench for this script only, e.g.
``pip install --target /tmp/zeus zeus scikit-learn httpx`` and ``PYTHONPATH=/tmp/zeus``. Zeus refuses a
``pynvml`` module that lacks the official bindings' private ``_nvmlGetFunctionPointer``, and asks every GPU for its
Grace-Hopper C2C mode: against the fake, this script gives the fake module that attribute and has the C2C query
answer ``NVML_ERROR_NOT_SUPPORTED``, as NVML does on a GPU without C2C. Without Zeus the script times bench alone.

Conditions are interleaved in rounds (shuffled order) so drift of a shared machine hits all alike; each figure is
the median over rounds of the mean cost of a pair within the round.

Usage::

    python benchmarks/window_overhead.py [--quick] [--real] [--out FILE] [--md FILE]

JSON goes to stdout (and ``--out``, default docs/data/window_overhead.json); a markdown table to stderr (and
``--md``, default docs/data/window_overhead.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _docs import emit  # noqa: E402
from _machine import machine_info  # noqa: E402


def zeus_shims(module: Any) -> None:
    """What Zeus needs of a ``pynvml`` module that the fake leaves out (see the module docstring)."""
    if not hasattr(module, "_nvmlGetFunctionPointer"):
        module._nvmlGetFunctionPointer = lambda name: None
    if not hasattr(module, "nvmlDeviceGetC2cModeInfoV"):
        def c2c(handle: Any) -> Any:
            raise module.NVMLError(module.NVML_ERROR_NOT_SUPPORTED)

        module.nvmlDeviceGetC2cModeInfoV = c2c


def time_pairs(begin: Callable[[], Any], end: Callable[[], Any], pairs: int) -> float:
    """Mean seconds of one begin+end pair over ``pairs`` pairs."""
    start = time.perf_counter()
    for _ in range(pairs):
        begin()
        end()
    return (time.perf_counter() - start) / pairs


def conditions(out: Path, real: bool) -> tuple[dict[str, Callable[[int], float]], list[Any], dict[str, Any]]:
    """The timed conditions (name -> run ``pairs`` pairs, returns s/pair), what to close, and notes."""
    import bench

    notes: dict[str, Any] = {}
    session = bench.measure("cuda:0", out=out, idle_s=0, rate_hz=10.0).start()
    conds: dict[str, Callable[[int], float]] = {
        "bench (sync off)": lambda n: time_pairs(lambda: session.begin_window("w", sync=False),
                                                 lambda: session.end_window("w", sync=False), n),
        "bench (sync on)": lambda n: time_pairs(lambda: session.begin_window("s"), lambda: session.end_window("s"), n),
    }
    closers: list[Any] = [session.close]
    try:
        import pynvml

        if not real:
            zeus_shims(pynvml)
        from zeus.monitor import ZeusMonitor
    except ImportError as exc:
        notes["zeus"] = f"not installed ({exc}); bench timed alone"
        return conds, closers, notes
    import importlib.metadata as md

    notes["zeus"] = md.version("zeus") if _has_dist("zeus") else "unknown version"
    monitor = ZeusMonitor(gpu_indices=[0], cpu_indices=[], approx_instant_energy=True)
    conds["zeus (sync off)"] = lambda n: time_pairs(lambda: monitor.begin_window("w", sync_execution=False),
                                                    lambda: monitor.end_window("w", sync_execution=False), n)
    if real:
        conds["zeus (sync on)"] = lambda n: time_pairs(lambda: monitor.begin_window("s", sync_execution=True),
                                                       lambda: monitor.end_window("s", sync_execution=True), n)
    return conds, closers, notes


def _has_dist(name: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


def measure(real: bool, rounds: int, pairs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if not real:
            from bench.conformance.fake_cuda import fake_gpus
            from bench.conformance.fake_nvml import FakeGpu, FakeNvml

            stack.enter_context(fake_gpus(FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3", power=300.0)])))
        conds, closers, notes = conditions(Path(tmp), real)
        for fn in conds.values():
            fn(max(pairs // 10, 5))  # warm the code paths
        per: dict[str, list[float]] = {name: [] for name in conds}
        rng = random.Random(0)
        for _ in range(rounds):
            order = list(conds)
            rng.shuffle(order)
            for name in order:
                per[name].append(conds[name](pairs))
        for close in closers:
            close()
    figures = {name: {"median_us": statistics.median(v) * 1e6, "min_us": min(v) * 1e6, "max_us": max(v) * 1e6,
                      "rounds": len(v), "pairs_per_round": pairs} for name, v in per.items()}
    return {"nvml": "real" if real else "fake (bench.conformance.fake_nvml, H100)", "notes": notes,
            "figures": figures}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"NVML: {report['nvml']}; Zeus: {report['notes'].get('zeus')}; "
             f"{report['machine']['cpu_model']}, {report['machine']['nproc']} cores, "
             f"load {report['machine']['loadavg_start']}; {report['date']}", "",
             "| begin/end pair | median µs | min µs | max µs | rounds x pairs |", "|---|---:|---:|---:|---:|"]
    for name, f in report["figures"].items():
        lines.append(f"| {name} | {f['median_us']:.0f} | {f['min_us']:.0f} | {f['max_us']:.0f} | "
                     f"{f['rounds']} x {f['pairs_per_round']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (a smoke test)")
    ap.add_argument("--real", action="store_true", help="real NVML and GPU 0 instead of the fake")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None)
    args = ap.parse_args()
    rounds, pairs = (2, 20) if args.quick else (15, 200)
    report = {"benchmark": "window_overhead", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), **measure(args.real, rounds, pairs)}
    suffix = "_real" if args.real else ""
    emit(report, None if args.quick else args.out or ROOT / "docs" / "data" / f"window_overhead{suffix}.json")
    table = markdown(report)
    print(table, file=sys.stderr)
    if not args.quick:
        (args.md or ROOT / "docs" / "data" / f"window_overhead{suffix}.md").write_text(table)


if __name__ == "__main__":
    main()
