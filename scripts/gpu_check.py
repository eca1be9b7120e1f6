"""GPU check: what the harness measures on a real NVIDIA GPU, held against NVML read by hand.

Run by ``scripts/gpu-check.sh OUTDIR`` on a machine with an NVIDIA GPU (under 8 minutes on one GPU); every
file it writes is under OUTDIR:

1. ``traces/nvml-sources/trace.parquet``: NVML's energy counter, ``nvmlDeviceGetPowerUsage`` and the
   instant-power field read as fast as NVML answers around a GEMM step and 20 ms bursts (one channel
   each, in the meter's trace format), with each figure's refresh period as the reads show it;
2. the raw counter read by hand around a GEMM window against the harness's window energy (agree within
   0.5%);
3. the counter against lag-corrected averaged power, and against the instant field, over GEMM windows
   (the counter-vs-power validity check);
4. ``pytest -m gpu`` (``pytest-gpu.txt``);
5. ``bench run`` of the standard ``gemm`` (bf16) and ``llm-decode`` workloads (``runs/``);
6. ``gpu-check.json`` (every figure) and ``gpu-check.md`` (a table of them).

The steps take the NVML module, clock and load as arguments, so the test suite runs steps 1-3 against the
fake NVML on a simulated clock (``tests/scripts/test_gpu_check.py``); on a GPU they use ``pynvml``, the
monotonic clock and real bf16 GEMMs. Exit code 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.clock import Clock, MonotonicClock  # noqa: E402

HAND_TOLERANCE = 0.005  # the harness's window against the counter read by hand
SOURCES = ("counter", "usage", "instant")


@dataclass
class Rig:
    """What the checks run on: an NVML module (``pynvml`` or the fake), its GPU ``index``, a clock, and the
    load. ``busy(seconds)`` keeps the GPU busy (bf16 GEMMs; on a simulated rig the fake's timeline is the
    load and time just passes); ``simulated`` rigs drive the meter by hand."""

    nv: Any
    index: int = 0
    clock: Clock = field(default_factory=MonotonicClock)
    device: str = "cuda:0"
    identity: dict[str, Any] = field(default_factory=dict)
    busy: Callable[[float], None] | None = None

    @property
    def simulated(self) -> bool:
        return bool(getattr(self.clock, "simulated", False))

    def handle(self) -> Any:
        return self.nv.nvmlDeviceGetHandleByIndex(self.index)

    def wait(self, seconds: float, meter: Any = None, busy: bool = False) -> None:
        """Let ``seconds`` pass, the GPU busy or idle; a simulated rig reads ``meter`` meanwhile."""
        if self.simulated:
            if meter is not None:
                meter.run_for(seconds)
            else:
                self.clock.sleep(seconds)
        elif busy and self.busy is not None:
            self.busy(seconds)
        else:
            time.sleep(seconds)


def gemm_load(device: str = "cuda:0", size: int = 8192) -> Callable[[float], None]:
    """bf16 GEMMs on ``device`` for a given number of seconds (the device synchronised at the end)."""
    import torch

    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn_like(a)
    (a @ b).sum().item()

    def busy(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for _ in range(4):
                a @ b
            torch.cuda.synchronize(device)

    return busy


# --- 1. every power source, recorded -------------------------------------------------------------------------


def read_sources(nv: Any, handle: Any, clock: Clock) -> list[tuple[int, str, float | None, float | None]]:
    """One read of each source: (t_ns, channel, energy_j, power_w); each stamped at the middle of its call."""
    out = []
    t0 = clock.now_ns()
    energy = nv.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
    t1 = clock.now_ns()
    usage = nv.nvmlDeviceGetPowerUsage(handle) / 1000.0
    t2 = clock.now_ns()
    instant = None
    field_id = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)
    if field_id is not None:
        value = nv.nvmlDeviceGetFieldValues(handle, [(field_id, getattr(nv, "NVML_POWER_SCOPE_GPU", 0))])[0]
        if value.nvmlReturn == nv.NVML_SUCCESS:
            instant = float(value.value.uiVal) / 1000.0
    t3 = clock.now_ns()
    out.append(((t0 + t1) // 2, "counter", energy, None))
    out.append(((t1 + t2) // 2, "usage", None, usage))
    out.append(((t2 + t3) // 2, "instant", None, instant))
    return out


SOURCE_CAPS = {
    "counter": {"energy_counter": True, "power": "none", "scope": "gpu", "update_period_s": 0.01,
                "power_average_window_s": 0.0, "max_rate_hz": 10000.0, "energy_tolerance": 0.05},
    "usage": {"energy_counter": False, "power": "averaged", "scope": "gpu", "update_period_s": 0.1,
              "power_average_window_s": 1.0, "max_rate_hz": 10000.0, "energy_tolerance": 0.05,
              "power_update_period_s": 0.1},
    "instant": {"energy_counter": False, "power": "instant", "scope": "gpu", "update_period_s": 0.1,
                "power_average_window_s": 0.0, "max_rate_hz": 10000.0, "energy_tolerance": 0.05},
}


def pattern(quick: bool) -> list[tuple[str, float]]:
    """The load around which the sources are recorded: idle, a GEMM step, idle, six 20 ms bursts, idle."""
    if quick:
        return [("idle", 1.0), ("busy", 2.0), ("idle", 2.0)] + [("busy", 0.02), ("idle", 0.48)] * 2 + [("idle", 1.0)]
    return [("idle", 2.0), ("busy", 5.0), ("idle", 3.0)] + [("busy", 0.02), ("idle", 0.48)] * 6 + [("idle", 2.0)]


def record_sources(rig: Rig, folder: Path, steps: list[tuple[str, float]], period_s: float = 0.0005) -> dict:
    """Read every source about every ``period_s`` (as fast as NVML answers, on a GPU) while ``steps`` run;
    write them as one trace (channel per source, sample-and-hold replayable) and return each source's
    refresh period as the reads show it."""
    from bench.meter.refresh import Staircase
    from bench.result.trace import TraceWriter, finalize
    from bench.samplers.base import Reading

    handle = rig.handle()
    rows: list[tuple[int, str, float | None, float | None]] = []
    marks: list[tuple[str, float]] = []
    start = rig.clock.now_ns()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            rows.extend(read_sources(rig.nv, handle, rig.clock))
            if rig.simulated:
                rig.clock.sleep(period_s)
            else:
                time.sleep(period_s)

    if rig.simulated:
        end = start + int(sum(s for _, s in steps) * 1e9)
        t = 0.0
        for kind, seconds in steps:
            marks.append((kind, t))
            t += seconds
        while rig.clock.now_ns() < end:
            rows.extend(read_sources(rig.nv, handle, rig.clock))
            rig.clock.sleep(period_s)
    else:
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        for kind, seconds in steps:
            marks.append((kind, (rig.clock.now_ns() - start) / 1e9))
            rig.wait(seconds, busy=kind == "busy")
        stop.set()
        thread.join()
    meta = {"channels": {f"nvml:{name}": {"sampler": "nvml-by-hand", **caps} for name, caps in SOURCE_CAPS.items()},
            "recorded": {"gpu": _text(rig.nv.nvmlDeviceGetName(handle)),
                         "driver": _text(rig.nv.nvmlSystemGetDriverVersion()),
                         "pynvml": getattr(rig.nv, "__version__", None),
                         "read_period_s": period_s, "t0_ns": start,
                         "load": [{"kind": k, "start_s": s} for k, s in marks]}}
    folder.mkdir(parents=True, exist_ok=True)
    writer = TraceWriter(folder, meta)
    stairs = {name: Staircase(maxlen=100000) for name in SOURCES}
    for t_ns, name, energy, power in rows:
        writer.append(f"nvml:{name}", Reading(energy_j=energy, power_w=power, t_ns=t_ns))
        value = energy if energy is not None else power
        if value is not None:
            stairs[name].feed(t_ns, value)
    writer.close()
    finalize(folder)
    out = {"reads": len(rows) // 3, "seconds": (rows[-1][0] - rows[0][0]) / 1e9 if rows else 0.0}
    for name, st in stairs.items():
        period = st.period_ns(recent=100000)
        out[f"{name}_refresh_ms"] = None if period is None else period / 1e6
        out[f"{name}_changes"] = st.changes
    return out


# --- 2. the counter by hand around a window --------------------------------------------------------------------


def fresh_counter(rig: Rig, handle: Any, timeout_s: float = 1.0) -> tuple[float, int]:
    """Read the counter until it changes: (J, the instant of that read) - a value at most one read old."""
    nv, clock = rig.nv, rig.clock
    first = nv.nvmlDeviceGetTotalEnergyConsumption(handle)
    end = clock.now_ns() + int(timeout_s * 1e9)
    while clock.now_ns() < end:
        if rig.simulated:
            clock.sleep(0.0005)
        value = nv.nvmlDeviceGetTotalEnergyConsumption(handle)
        if value != first:
            return value / 1000.0, clock.now_ns()
    raise RuntimeError(f"the energy counter did not move in {timeout_s:g} s")


def open_meter(rig: Rig, power: str = "auto", rate_hz: float = 100.0) -> Any:
    """The harness's meter on the rig's GPU through the nvml sampler (``power``: the sampler's option)."""
    from bench.meter.meter import Meter
    from bench.samplers.nvml import NvmlSampler

    samplers = NvmlSampler.open(rig.device, identity=rig.identity, clock=rig.clock, power=power)
    return Meter(samplers, rate_hz=rate_hz, clock=rig.clock, threaded=not rig.simulated).start()


class HandPoller:
    """Reads the counter by hand in a thread as fast as NVML answers, keeping each new value and the instant
    of the first read that saw it (a refresh, to within one read): the counter's staircase, independently of
    the harness."""

    def __init__(self, rig: Rig, handle: Any) -> None:
        self.rig, self.handle = rig, handle
        self.changes: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        nv, clock, last = self.rig.nv, self.rig.clock, None
        while not self._stop.is_set():
            value = nv.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            t = clock.now_ns()
            if value != last:
                self.changes.append((t, value / 1000.0))
                last = value
            time.sleep(0.0002)

    def __enter__(self) -> "HandPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def energy_at(self, t_ns: int) -> float:
        """The counter's energy at ``t_ns``: linear between the refreshes around it."""
        pts = self.changes
        for (t0, e0), (t1, e1) in zip(pts, pts[1:]):
            if t0 <= t_ns <= t1:
                return e0 + (e1 - e0) * (t_ns - t0) / (t1 - t0)
        raise RuntimeError("the hand reads do not cover the window")


def hand_vs_window(rig: Rig, seconds: float) -> dict:
    """The counter read by hand against the harness's window energy over a GEMM window. On a GPU a thread
    reads the counter by hand throughout and the window's edges are interpolated between the refreshes it
    saw; on a simulated rig the counter is read until it changes just before the window opens and just after
    it closes, the energy outside the window taken off at the power the counter showed there."""
    handle = rig.handle()
    meter = open_meter(rig)
    extra: dict[str, Any] = {}
    try:
        rig.wait(1.0, meter)
        if rig.simulated:
            e_idle0, t_idle0 = fresh_counter(rig, handle)
            rig.wait(0.5, meter)
            e0, t0 = fresh_counter(rig, handle)
            meter.open_window("gemm")
            rig.wait(seconds, meter, busy=True)
            w = meter.close_window("gemm")
            e1, t1 = fresh_counter(rig, handle)
            e2, t2 = fresh_counter(rig, handle)
            idle_w, after_w = (e0 - e_idle0) * 1e9 / max(t0 - t_idle0, 1), (e2 - e1) * 1e9 / max(t2 - t1, 1)
            before_s, after_s = max(w.t_start_ns - t0, 0) / 1e9, max(t1 - w.t_end_ns, 0) / 1e9
            hand = e1 - e0 - idle_w * before_s - after_w * after_s
            extra = {"hand_raw_j": e1 - e0, "before_s": before_s, "after_s": after_s}
        else:
            with HandPoller(rig, handle) as poller:
                time.sleep(0.5)
                meter.open_window("gemm")
                rig.wait(seconds, meter, busy=True)
                w = meter.close_window("gemm")
                time.sleep(0.5)
            hand = poller.energy_at(w.t_end_ns) - poller.energy_at(w.t_start_ns)
            extra = {"hand_changes": len(poller.changes)}
    finally:
        meter.stop()
        for s in [c.sampler for c in meter.channels]:
            s.close()
    rel = (w.energy_j - hand) / hand
    return {"window_s": w.duration_s, "window_j": w.energy_j, "window_bound_j": w.energy_uncertainty_j,
            "edges": w.channels[0].edges, "hand_j": hand, **extra, "relative_difference": rel,
            "limit": HAND_TOLERANCE, "ok": abs(rel) <= HAND_TOLERANCE}


# --- 3. the counter against power --------------------------------------------------------------------------------


def counter_against_power(rig: Rig, power: str, seconds: float, windows: int = 2) -> dict:
    """GEMM windows measured with the counter and, beside it, ``power`` (``usage``: the averaged figure, lag
    corrected; ``instant``: the instant field, and where NVML gives the 1 s average in the same field-values call,
    that average read beside it, lag corrected: the figure the check then uses, ``check_figure``) integrated; the
    validity check's verdict on each."""
    from bench.analysis.validity import counter_vs_power

    meter = open_meter(rig, power=power)
    try:
        caps = {c.name: c.caps.to_dict() for c in meter.channels}
        rig.wait(1.0, meter)
        measured = []
        for k in range(windows):
            meter.open_window(f"gemm.{k + 1}")
            rig.wait(seconds, meter, busy=True)
            measured.append(meter.close_window(f"gemm.{k + 1}"))
    finally:
        meter.stop()
        for s in [c.sampler for c in meter.channels]:
            s.close()
    checks = counter_vs_power(measured, caps)
    return {"power": power, "power_kind": next(iter(caps.values()))["power"],
            "check_figure": any(float(c.get("check_power_average_window_s") or 0) > 0 for c in caps.values()),
            "windows": [{"window": w.name, "duration_s": w.duration_s, "counter_j": w.channels[0].energy_j,
                         "counter_bound_j": w.channels[0].energy_uncertainty_j,
                         "power_j": w.channels[0].integrated_energy_j,
                         "power_bound_j": w.channels[0].integrated_uncertainty_j,
                         "correction": w.channels[0].power_correction} for w in measured],
            "checks": [c.model_dump() for c in checks],
            "ok": bool(checks) and all(c.ok for c in checks)}


# --- 4, 5. pytest -m gpu and the standard workloads ------------------------------------------------------------


def run_pytest(out: Path, timeout_s: float = 240) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    (out / "pytest-gpu.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return {"command": " ".join(cmd[1:]), "returncode": proc.returncode, "summary": last, "ok": proc.returncode == 0}


def standard_runs(out: Path, device: str, timeout_s: float = 330) -> dict:
    """``bench run`` of the standard gemm (bf16) and llm-decode workloads, bounded in time."""
    args = ["run", "--device", device, "--workload", "gemm", "--workload", "llm-decode", "--preset", "standard",
            "--dtype", "bf16",
            "--rate", "100", "--idle", "5", "--warmup-max", "20", "--repeats", "3", "--duration", "10",
            "--out", str(out / "runs"), "--name", "standard", "--quiet"]
    cmd = [sys.executable, "-m", "bench", *args]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
        code, text = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, text = -1, f"timed out after {timeout_s:g} s\n{exc.stdout or ''}{exc.stderr or ''}"
    (out / "bench-run.txt").write_text(text, encoding="utf-8")
    figures: dict[str, Any] = {"command": "bench " + " ".join(args), "returncode": code}
    result_file = out / "runs" / "standard" / "result.json"
    if result_file.is_file():
        from bench.result.io import load_result

        res = load_result(result_file.parent)
        figures["status"] = res.status
        figures["quality"] = res.quality.level if res.quality else None
        figures["validity_failed"] = [v.check + (f"@{v.window}" if v.window else "") for v in (res.validity or [])
                                      if not v.ok]
        figures["workloads"] = {
            wl.workload: {"status": wl.status, "unit": wl.unit,
                          "gross_j_per_unit": wl.aggregate.gross_energy_per_unit_j.mean if wl.aggregate else None,
                          "ci95_relative": wl.aggregate.gross_energy_per_unit_j.ci95_relative if wl.aggregate else None,
                          "sensor_bound_relative": wl.aggregate.energy_uncertainty_relative if wl.aggregate else None}
            for wl in res.workloads}
    figures["ok"] = code == 0 and figures.get("status") == "complete"
    return figures


# --- the whole check --------------------------------------------------------------------------------------------


def markdown(report: dict) -> str:
    s = report["sources"]
    broken = [f"| {k} | {v['error']} | FAIL |" for k, v in report.items()
              if isinstance(v, dict) and "error" in v]
    lines = ["| check | figure | result |", "|---|---|---|",
             f"| refresh periods | counter {_f(s.get('counter_refresh_ms'))} ms, power usage "
             f"{_f(s.get('usage_refresh_ms'))} ms, instant field {_f(s.get('instant_refresh_ms'))} ms | recorded |"]
    lines += broken
    h = report.get("hand_vs_window")
    if h and "error" not in h:
        lines.append(f"| counter by hand vs window ({h['window_s']:.1f} s GEMM) | window {h['window_j']:.1f} J, "
                     f"by hand {h['hand_j']:.1f} J, {h['relative_difference']:+.3%} (limit "
                     f"{h['limit']:.1%}) | {'pass' if h['ok'] else 'FAIL'} |")
    for c in report.get("counter_vs_power", []) if isinstance(report.get("counter_vs_power"), list) else []:
        for v in c["checks"]:
            against = "the 1 s average read beside the instant field" if c.get("check_figure") else \
                f"{c['power']} power"
            lines.append(f"| counter vs {against}, {v['window']} | {v['value']:.3%} apart (limit "
                         f"{v['limit']:.2%}) | {'pass' if v['ok'] else 'FAIL'} |")
    for key, label in (("pytest_gpu", "pytest -m gpu"), ("runs", "standard gemm + llm-decode")):
        r = report.get(key)
        if r and "error" not in r:
            lines.append(f"| {label} | {r.get('summary') or r.get('status') or r.get('returncode')} | "
                         f"{'pass' if r['ok'] else 'FAIL'} |")
    return "\n".join(lines) + "\n"


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def run_checks(rig: Rig, out: Path, quick: bool = False, pytest_gpu: bool = True, runs: bool = True) -> dict:
    """Every step; the report (also written to ``out/gpu-check.json`` and ``.md``)."""
    out.mkdir(parents=True, exist_ok=True)
    window_s = 3.0 if quick else 10.0
    power_window_s = 11.0  # the validity check compares counter and averaged power over >= 10 s
    report: dict[str, Any] = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                              "device": rig.device, "quick": quick}
    t = time.monotonic()
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("sources", lambda: record_sources(rig, out / "traces" / "nvml-sources", pattern(quick))),
        ("hand_vs_window", lambda: hand_vs_window(rig, window_s)),
        ("counter_vs_power", lambda: [counter_against_power(rig, p, power_window_s, 1 if quick else 2)
                                      for p in ("usage", "instant")]),
    ]
    if pytest_gpu:
        steps.append(("pytest_gpu", lambda: run_pytest(out)))
    if runs:
        steps.append(("runs", lambda: standard_runs(out, rig.device)))
    for key, step in steps:  # a step that breaks is recorded, and the others still run
        started = time.monotonic()
        try:
            report[key] = step()
        except Exception as exc:  # noqa: BLE001 - the report says what broke
            report[key] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        report.setdefault("step_seconds", {})[key] = round(time.monotonic() - started, 1)
    report["seconds"] = time.monotonic() - t
    results = [report[k] for k, _ in steps if k != "sources"]
    report["ok"] = all(all(c["ok"] for c in r) if isinstance(r, list) else r["ok"] for r in results) \
        and "error" not in report["sources"]
    (out / "gpu-check.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "gpu-check.md").write_text(markdown(report), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="folder for everything the check writes")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--quick", action="store_true", help="shorter windows (a smoke test of the check itself)")
    p.add_argument("--no-pytest", action="store_true")
    p.add_argument("--no-runs", action="store_true")
    args = p.parse_args(argv)
    import pynvml

    from bench.devices import open_device
    from bench.samplers.nvml import resolve_handle

    device = open_device(args.device)
    identity = device.identity()
    pynvml.nvmlInit()
    try:
        handle, _ = resolve_handle(pynvml, int(args.device.split(":")[1]), identity)
        rig = Rig(pynvml, index=pynvml.nvmlDeviceGetIndex(handle), device=args.device, identity=identity,
                  busy=gemm_load(args.device))
        report = run_checks(rig, args.out, quick=args.quick, pytest_gpu=not args.no_pytest, runs=not args.no_runs)
    finally:
        pynvml.nvmlShutdown()
    print(markdown(report))
    print(f"gpu check {'passed' if report['ok'] else 'FAILED'} in {report['seconds']:.0f} s; figures in {args.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
