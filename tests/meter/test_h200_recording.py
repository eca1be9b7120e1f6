"""The meter on NVML as an H200 really behaves: a recording (tests/data/nvml-h200, driver 580.159.04) of its
energy counter, nvmlDeviceGetPowerUsage and the instant-power field read every 4.4 ms around bf16 GEMMs,
replayed value by value (``hold``) on a simulated clock."""

import math

import pytest

from bench.analysis.validity import counter_vs_power
from bench.clock import SimClock
from bench.meter.meter import Meter
from bench.result.trace import read_trace, trace_metadata
from bench.samplers.replay import ReplaySampler
from tests import ROOT

TRACE = ROOT / "tests" / "data" / "nvml-h200" / "trace.parquet"
WINDOWS = [("gemm-4s", 1.5, 7.5), ("bursts", 8.5, 12.5), ("gemm-10s-edges-on-steps", 14.0, 24.0)]


@pytest.fixture(scope="module")
def replayed():
    clock = SimClock()
    samplers = [ReplaySampler.open("cpu", trace=TRACE, channel=f"nvml:{name}", clock=clock, hold="true")[0]
                for name in ("counter", "usage", "instant")]
    meter = Meter(samplers, rate_hz=100, clock=clock, threaded=False, seed=1).start()
    windows = []
    for name, a, b in WINDOWS:
        meter.run_for(a - clock.now_ns() / 1e9)
        meter.open_window(name)
        meter.run_for(b - clock.now_ns() / 1e9)
        windows.append(meter.close_window(name))
    meter.stop()
    return meter, windows


def test_the_recording_is_what_it_says():
    meta = trace_metadata(TRACE)
    assert meta["recorded"]["gpu"] == "NVIDIA H200" and meta["recorded"]["driver"] == "580.159.04"
    assert [x["kind"] for x in meta["recorded"]["load"]][:3] == ["idle", "busy", "idle"]
    assert meta["channels"]["nvml:usage"]["power"] == "averaged"


def test_the_h200_counter_refreshes_every_100_ms_and_is_located(replayed):
    meter, windows = replayed
    assert meter.channels[0].stairs.period_ns() == pytest.approx(100e6, rel=0.01)
    for w in windows:
        counter = w.channels[0]
        assert counter.edges == "located"
        assert counter.energy_uncertainty_j < 0.01 * counter.energy_j


def test_lag_corrected_averaged_power_meets_the_counter(replayed):
    _, windows = replayed
    for w in windows:
        counter, usage = w.channels[0], w.channels[1]
        assert usage.power_correction == "inverted"
        assert abs(usage.energy_j - counter.energy_j) / counter.energy_j < 0.01
        assert abs(usage.energy_j - counter.energy_j) <= usage.energy_uncertainty_j + counter.energy_uncertainty_j
    # integrated as if it were the present power, the averaged figure lags the counter on a window whose
    # edges cut the GEMM: 4.6% short here
    table = read_trace(TRACE, ["t_ns", "channel", "power_w"])
    pts = [(t / 1e9, p) for t, c, p in zip(*(table.column(k).to_pylist() for k in ("t_ns", "channel", "power_w")))
           if c == "nvml:usage"]
    _, a, b = WINDOWS[2]
    inside = [(t, p) for t, p in pts if a <= t <= b]
    plain = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(inside, inside[1:]))
    counter_j = windows[2].channels[0].energy_j
    assert (plain - counter_j) / counter_j < -0.03


def test_validity_passes_the_h200_counter_against_lag_corrected_power(replayed):
    meter, windows = replayed
    caps = {c.name: c.caps.to_dict() for c in meter.channels}
    # the check reads a window's counter and its integrated power from one channel: pair them as a channel
    # with both (NVML's counter with power=usage) would have them
    paired = []
    for w in windows:
        counter, usage = w.channels[0], w.channels[1]
        both = counter.model_copy(update={"channel": "replay:nvml:usage", "integrated_energy_j": usage.energy_j,
                                          "integrated_uncertainty_j": usage.energy_uncertainty_j,
                                          "power_correction": usage.power_correction})
        paired.append(w.model_copy(update={"channels": [both]}))
    checks = counter_vs_power(paired, caps)
    assert [c.window for c in checks] == ["gemm-10s-edges-on-steps"]  # the others are under 10 windows of 1 s
    assert all(c.ok and c.value < 0.01 for c in checks)
    assert not math.isnan(checks[0].value)
