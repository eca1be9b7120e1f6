"""The one builder of synthetic results for tests, with figures known exactly.

- :func:`make_result` builds a :class:`~bench.result.model.Result` in memory (scoring, quality, footprint tests):
  by default an H100 SXM measured by an NVML-like channel (energy counter, instant power), 10 Hz achieved, a
  clean idle baseline, and one ``llm-decode`` workload of three clean 12 s repeats at about 0.1 J/token, which
  conforms to clause7-2025.1. Each argument spoils one thing, so a test can break one rule at a time; its
  statistics are computed independently of the harness (scipy).
- :func:`write_result_folder` writes a sealed result folder (``result.json`` by the harness's own writer and a
  ``trace.parquet`` with a cumulative counter) whose repeats have exactly the given gross J/unit
  (integrity, store, comparison and report tests).
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

from scipy import stats as sps

from bench.analysis.figures import aggregate, repeat_figures
from bench.result.io import write_result
from bench.result.model import (
    Aggregate,
    ChannelEnergy,
    ChannelInfo,
    DeviceSetting,
    IdleBaseline,
    Issue,
    Measurement,
    Quality,
    Repeat,
    Result,
    Stat,
    TraceRef,
    ValidityCheck,
    Window,
    WorkloadResult,
)

# --- results in memory --------------------------------------------------------------------------------------

H100 = "NVIDIA H100 80GB HBM3"
NS = 1_000_000_000


def stat(values: list[float]) -> Stat:
    """Mean, sample std and Student-t 95% CI, computed independently with scipy."""
    n = len(values)
    if n == 0:
        return Stat(mean=None, n=0)
    mean = values[0] if all(v == values[0] for v in values) else math.fsum(values) / n
    if n == 1:
        return Stat(mean=mean, n=1)
    std = float(sps.tstd(values)) if any(v != values[0] for v in values) else 0.0
    half = float(sps.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return Stat(mean=mean, std=std, ci95_low=mean - half, ci95_high=mean + half, n=n)


def caps(energy_counter: bool = True, power: str = "instant", scope: str = "gpu",
         update_period_s: float = 0.1, calibrated: bool = False) -> dict[str, Any]:
    return {"energy_counter": energy_counter, "power": power, "scope": scope, "update_period_s": update_period_s,
            "power_average_window_s": 0.0, "max_rate_hz": 1000.0, "energy_tolerance": 0.05,
            "counter_wrap_j": None, "calibrated": calibrated}


def nvml_channel() -> ChannelInfo:
    return ChannelInfo(channel="cuda:0", sampler="nvml", capabilities=caps())


def power_only_channel() -> ChannelInfo:
    return ChannelInfo(channel="cuda:0", sampler="nvml", capabilities=caps(energy_counter=False, power="averaged"))


def estimate_channel(rated_power_w: float = 120.0) -> ChannelInfo:
    return ChannelInfo(channel="cpu", sampler="estimate", capabilities=caps(energy_counter=False, power="estimated",
                                                                           scope="package"),
                       describe={"sampler": "estimate", "rated_power_w": rated_power_w})


def meter_channel() -> ChannelInfo:
    return ChannelInfo(channel="meter:0", sampler="acme-meter",
                       capabilities=caps(scope="system", calibrated=True))


def window(name: str, t0_s: float, duration_s: float, energy_j: float, *, method: str = "counter",
           gaps: int = 0, resets: int = 0, issues: list[Issue] | None = None, rate_hz: float = 10.0) -> Window:
    samples = max(int(duration_s * rate_hz), 0)
    clean = not gaps and not resets and not issues
    return Window(
        name=name, t_start_ns=int(t0_s * NS), t_end_ns=int((t0_s + duration_s) * NS), duration_s=duration_s,
        energy_j=energy_j, mean_power_w=energy_j / duration_s if duration_s else None,
        peak_power_w=energy_j / duration_s * 1.1 if duration_s else None, samples=samples,
        channels=[ChannelEnergy(channel="cuda:0", energy_j=energy_j, method=method, samples=samples,
                                gaps=gaps, resets=resets)],
        issues=issues or [], clean=clean,
    )


def workload(name: str = "llm-decode", *, unit: str = "token", gross_per_unit: list[float] | None = None,
             units: int = 40_000, duration_s: float = 12.0, idle_power_w: float = 80.0,
             flops_per_unit: float | None = 1.6e10, dtype: str = "bf16", preset: str = "standard",
             parameters: int | None = 8_000_000_000, status: str = "complete", t0_s: float = 20.0,
             window_kw: dict[str, Any] | None = None) -> tuple[WorkloadResult, list[Window]]:
    """A workload and its repeat windows; ``gross_per_unit`` gives each repeat's gross J per unit."""
    per_unit = gross_per_unit if gross_per_unit is not None else [0.100, 0.101, 0.099]
    repeats, windows = [], []
    idle_j = idle_power_w * duration_s
    for i, e in enumerate(per_unit):
        wname = f"{name}/repeat-{i}"
        gross = e * units
        windows.append(window(wname, t0_s + i * (duration_s + 1), duration_s, gross, **(window_kw or {})))
        repeats.append(Repeat(
            index=i, window=wname, units=units, steps=units // 64, duration_s=duration_s, gross_energy_j=gross,
            idle_energy_j=idle_j, net_energy_j=gross - idle_j, mean_power_w=gross / duration_s,
            peak_power_w=gross / duration_s * 1.1, throughput=units / duration_s,
            energy_per_unit_j=(gross - idle_j) / units, gross_energy_per_unit_j=e,
        ))
    aggregate = Aggregate(
        energy_per_unit_j=stat([r.energy_per_unit_j for r in repeats]),
        gross_energy_per_unit_j=stat(per_unit),
        throughput=stat([r.throughput for r in repeats]),
        net_energy_j=stat([r.net_energy_j for r in repeats]),
        gross_energy_j=stat([r.gross_energy_j for r in repeats]),
        mean_power_w=stat([r.mean_power_w for r in repeats]),
        duration_s=stat([r.duration_s for r in repeats]),
    ) if repeats else None
    wl = WorkloadResult(
        workload=name, kind="inference", status=status, unit=unit,
        params={"preset": preset, "dtype": None, "batch_size": None, "seq_len": None, "size": None,
                "compile": False, "seed": 0},
        settings={"dtype": dtype, "batch_size": 64}, units_per_step=64, flops_per_unit=flops_per_unit,
        parameters=parameters, memory_bytes=16_000_000_000, repeats=repeats, aggregate=aggregate,
    )
    return wl, windows


def passing_validity() -> list[ValidityCheck]:
    """Every validity check a standard can require, passed (as the run records them)."""
    from bench.analysis.validity import CHECKS

    return [ValidityCheck(check=name, ok=True, detail=f"{name} passed (synthetic)") for name in CHECKS]


_PASSING: Any = object()


def make_result(*, workloads: list[tuple[WorkloadResult, list[Window]]] | None = None, device_name: str = H100,
                device_type: str = "cuda", channels: list[ChannelInfo] | None = None,
                achieved_rate_hz: float | None = 10.0, idle: bool = True, idle_clean: bool = True,
                status: str = "complete", run_id: str = "run-0001", profile: dict[str, Any] | None = None,
                device_extra: dict[str, Any] | None = None,
                validity: list[ValidityCheck] | None = _PASSING) -> Result:
    """A whole result in memory; by default it conforms to clause7-2025.1 and 2025.2 (its validity checks, as
    recorded at run time, all pass; ``validity=None`` records none)."""
    parts = workloads if workloads is not None else [workload()]
    idle_window = window("idle", 0.0, 10.0, 800.0)
    windows = [idle_window] + [w for _, ws in parts for w in ws]
    return Result(
        run_id=run_id, created_utc="2025-07-01T12:00:00Z", status=status,
        harness={"name": "bench", "version": "0.1.0"}, config={"device": "cuda:0", "repeats": 3},
        provenance={"host": "lab-1"},
        device={"spec": "cuda:0", "type": device_type, "name": device_name, **(device_extra or {})},
        measurement=Measurement(sampler="nvml", channels=channels or [nvml_channel()], rate_hz=10.0,
                                achieved_rate_hz=achieved_rate_hz, samples=500),
        idle=IdleBaseline(window="idle", duration_s=10.0, energy_j=800.0, power_w=80.0, power_std_w=0.5,
                          clean=idle_clean) if idle else None,
        workloads=[wl for wl, _ in parts], windows=windows, profile=profile,
        validity=passing_validity() if validity is _PASSING else validity,
    )


# --- sealed result folders ----------------------------------------------------------------------------------

T0_NS = 5_000_000_000_000
FOLDER_CAPS = {"energy_counter": True, "power": "instant", "scope": "device", "update_period_s": 0.1,
        "power_average_window_s": 0.0, "max_rate_hz": 50.0, "energy_tolerance": 0.05, "counter_wrap_j": None,
        "calibrated": False}


def _segment_window(name: str, a_s: float, b_s: float, power_w: float, rate_hz: float) -> Window:
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
    pq.write_table(pa.Table.from_pydict(cols, schema=schema({"channels": {channel: FOLDER_CAPS}})),
                   folder / "trace.parquet", compression="zstd")
    return n


def write_result_folder(folder: Path | str, gross_per_unit_j: list[float], *, device: str = "Acme X1",
                workload: str = "gemm", unit: str = "matmul", preset: str = "standard", dtype: str = "bf16",
                batch: int | None = None, units: int = 1000, duration_s: float = 10.0, idle_w: float = 50.0,
                idle_s: float = 5.0, warmup_s: float = 4.0, rate_hz: float = 10.0, quality_level: int | None = 2,
                extra_workloads: list[dict[str, Any]] | None = None, ripple_w: float = 3.0,
                trace: bool = True, run_id: str | None = None, settings: dict[str, Any] | None = None,
                idle_std_w: float | None = 0.5, durations_s: list[float] | None = None,
                setting: DeviceSetting | None = None) -> Path:
    """A sealed result folder whose repeats have exactly the given gross J/unit (and, with ``durations_s``, each
    its own duration; ``setting``: the device setting a sweep recorded). Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    windows = [_segment_window("idle", 0.0, idle_s, idle_w, rate_hz)]
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
            d = durations_s[r - 1] if durations_s and spec is specs[0] else duration_s
            power = g * units / d
            win = _segment_window(f"{name}/repeat.{r}", t, t + d, power, rate_hz)
            windows.append(win)
            segments.append((t, t + d, power))
            repeats.append(repeat_figures(r, win, units, units // 2, idle_w))
            t += d
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
                                                                      capabilities=FOLDER_CAPS)],
                                rate_hz=rate_hz, achieved_rate_hz=rate_hz, samples=rows),
        idle=IdleBaseline(window="idle", duration_s=idle_s, energy_j=idle_w * idle_s, power_w=idle_w,
                          power_std_w=idle_std_w),
        workloads=workloads, windows=windows, quality=quality, setting=setting,
        trace=TraceRef(rows=rows, t0_ns=T0_NS) if trace else TraceRef(path="trace.parquet"),
    )
    write_result(result, folder)
    return folder


def write_sweep_folder(folder: Path | str, points: list[tuple[float | None, list[float], list[float]]], *,
                       units: int = 1000, max_slowdown: float = 0.05, original_w: float = 700.0,
                       status: str = "complete") -> Path:
    """A sweep folder of power-limit points, each ``(watts or None for the baseline, gross J/unit per repeat,
    duration s per repeat)``: sealed point results recording their setting, and sweep.json. Returns the folder."""
    from bench.result.sweep import SweepPoint, SweepRecord, SweepRestore, write_sweep

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = SweepRecord(sweep_id="sweep-0001", created_utc="2026-01-15T12:00:00+00:00", status=status,
                         device={"spec": "cuda:0", "name": H100}, original={"power_limit_w": original_w},
                         config={"max_slowdown": max_slowdown, "metric": "gross"},
                         restored=SweepRestore(ok=True, detail=f"put back power limit {original_w:g} W"))
    for i, (watts, energy, durations) in enumerate(points):
        label = f"{i:02d}-{'as-found' if watts is None else f'{watts:g}W'}"
        setting = DeviceSetting(power_limit_w=watts, original_power_limit_w=original_w, sweep_id=record.sweep_id,
                                point=label, baseline=watts is None)
        write_result_folder(folder / label, energy, durations_s=durations, units=units, setting=setting,
                            run_id=f"point-{i:04d}")
        record.points.append(SweepPoint(index=i, label=label, folder=label, baseline=watts is None,
                                        power_limit_w=watts, status="complete", run_id=f"point-{i:04d}"))
    write_sweep(record, folder)
    return folder
