"""Synthetic result folders with known figures, written by the harness's own writer (sealed like real runs).

Each repeat's gross energy per unit is given; everything else (power, windows, the trace with its
energy counter, aggregates with Student-t CIs) follows from it exactly, so tests know every figure.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from bench.analysis.figures import aggregate, repeat_figures
from bench.result.io import write_result
from bench.result.model import (
    ChannelInfo,
    IdleBaseline,
    Measurement,
    Quality,
    Result,
    TraceRef,
    Window,
    WorkloadResult,
)

T0_NS = 5_000_000_000_000
CAPS = {"energy_counter": True, "power": "instant", "scope": "device", "update_period_s": 0.1,
        "power_average_window_s": 0.0, "max_rate_hz": 50.0, "energy_tolerance": 0.05, "counter_wrap_j": None,
        "calibrated": False}


def _window(name: str, a_s: float, b_s: float, power_w: float, rate_hz: float) -> Window:
    d = b_s - a_s
    return Window(name=name, t_start_ns=T0_NS + int(a_s * 1e9), t_end_ns=T0_NS + int(b_s * 1e9), duration_s=d,
                  energy_j=power_w * d, mean_power_w=power_w, peak_power_w=power_w, samples=int(d * rate_hz))


def _trace(folder: Path, segments: list[tuple[float, float, float]], rate_hz: float, channel: str,
           ripple_w: float) -> int:
    """Write trace.parquet: power per segment (a_s, b_s, power_w), a cumulative counter; returns rows."""
    import math

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.result.trace import FIELDS, schema

    end = segments[-1][1]
    n = int(end * rate_hz) + 1
    cols: dict[str, list[Any]] = {"t_ns": [], "channel": [], **{f: [] for f in FIELDS}}
    energy, last_t = 0.0, 0.0
    for i in range(n):
        t = i / rate_hz
        p = next((w for a, b, w in segments if a <= t < b), segments[-1][2])
        p += ripple_w * math.sin(i * 0.7)
        energy += p * (t - last_t)
        last_t = t
        cols["t_ns"].append(T0_NS + int(t * 1e9))
        cols["channel"].append(channel)
        cols["energy_j"].append(energy)
        cols["power_w"].append(p)
        cols["temperature_c"].append(50.0)
        cols["clock_mhz"].append(1500.0)
        cols["power_limit_w"].append(700.0)
        cols["utilization"].append(None)
    pq.write_table(pa.Table.from_pydict(cols, schema=schema({"channels": {channel: CAPS}})),
                   folder / "trace.parquet", compression="zstd")
    return n


def make_result(folder: Path | str, gross_per_unit_j: list[float], *, device: str = "Acme X1",
                workload: str = "gemm", unit: str = "matmul", preset: str = "standard", dtype: str = "bf16",
                batch: int | None = None, units: int = 1000, duration_s: float = 10.0, idle_w: float = 50.0,
                idle_s: float = 5.0, warmup_s: float = 4.0, rate_hz: float = 10.0, quality_level: int | None = 2,
                extra_workloads: list[dict[str, Any]] | None = None, ripple_w: float = 3.0,
                trace: bool = True, run_id: str | None = None, settings: dict[str, Any] | None = None) -> Path:
    """A sealed result folder whose repeats have exactly the given gross J/unit. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    windows = [_window("idle", 0.0, idle_s, idle_w, rate_hz)]
    segments = [(0.0, idle_s, idle_w)]
    t = idle_s + 0.5
    workloads = []
    specs = [{"workload": workload, "unit": unit, "gross_per_unit_j": gross_per_unit_j, "preset": preset,
              "dtype": dtype, "batch": batch, "settings": settings}] + list(extra_workloads or [])
    for spec in specs:
        name, values = spec["workload"], spec["gross_per_unit_j"]
        warm_power = values[0] * units / duration_s
        segments.append((t, t + warmup_s, warm_power))
        t += warmup_s
        repeats = []
        for r, g in enumerate(values, 1):
            power = g * units / duration_s
            win = _window(f"{name}/repeat.{r}", t, t + duration_s, power, rate_hz)
            windows.append(win)
            segments.append((t, t + duration_s, power))
            repeats.append(repeat_figures(r, win, units, units // 2, idle_w))
            t += duration_s
        cfg = {"dtype": spec.get("dtype", dtype), "preset": spec.get("preset", preset)}
        resolved = {"dtype": cfg["dtype"], **({"batch_size": spec["batch"]} if spec.get("batch") else {}),
                    **(spec.get("settings") or {})}
        workloads.append(WorkloadResult(
            workload=name, kind="inference", status="complete", unit=spec.get("unit", unit),
            params={"preset": cfg["preset"], "dtype": None, "batch_size": spec.get("batch")}, settings=resolved,
            units_per_step=2, flops_per_unit=2.0 * 8192 ** 3 if name == "gemm" else None,
            warmup={"duration_s": warmup_s, "steady": True}, repeats=repeats,
            aggregate=aggregate(repeats, 2.0 * 8192 ** 3 if name == "gemm" else None)))
        t += 0.2
    segments.append((t, t + 0.5, idle_w))
    channel = "nvml:0"
    rows = _trace(folder, segments, rate_hz, channel, ripple_w) if trace else 0
    quality = None if quality_level is None else Quality(level=quality_level, label=f"L{quality_level} synthetic")
    result = Result(
        run_id=run_id or uuid.uuid4().hex, created_utc="2026-01-15T12:00:00+00:00", status="complete",
        harness={"name": "bench", "version": "0.1.0"}, config={"device": "cuda:0", "repeats": len(gross_per_unit_j)},
        provenance={"hostname": "lab"}, device={"spec": "cuda:0", "type": "cuda", "name": device},
        measurement=Measurement(sampler="nvml", channels=[ChannelInfo(channel=channel, sampler="nvml",
                                                                      capabilities=CAPS)],
                                rate_hz=rate_hz, achieved_rate_hz=rate_hz, samples=rows),
        idle=IdleBaseline(window="idle", duration_s=idle_s, energy_j=idle_w * idle_s, power_w=idle_w),
        workloads=workloads, windows=windows, quality=quality,
        trace=TraceRef(rows=rows, t0_ns=T0_NS) if trace else TraceRef(path="trace.parquet"),
    )
    write_result(result, folder)
    return folder
