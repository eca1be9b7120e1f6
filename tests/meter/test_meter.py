"""The meter against traces with analytically known energy (replayed on a simulated clock)."""

import math
import os
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.clock import SimClock
from bench.conformance.traces import ramp, spikes, steps, write_profile_trace
from bench.errors import BenchError, SamplerDeviceLost, SamplerError, SamplerTimeout
from bench.meter.meter import Meter
from bench.result.trace import STREAM_FILE, finalize, iter_batches, read_trace
from bench.samplers.base import (
    Capabilities,
    PowerKind,
    Reading,
    Scope,
)
from bench.samplers.replay import ReplaySampler
from tests.doubles import ScriptedSampler, counter_caps
from tests.support.fuzz import FAST


def measure(path, profile, a, b, rate_hz, power_only=False, clock=None, polling="stratified", seed=0):
    """Replay ``path`` and measure the window [a, b] seconds of the profile."""
    clock = clock or SimClock()
    samplers = ReplaySampler.open("cpu", trace=path, clock=clock, power_only=power_only)
    m = Meter(samplers, rate_hz=rate_hz, clock=clock, threaded=False, polling=polling, seed=seed)
    m.start()
    m.run_for(a)
    m.open_window("w")
    m.run_for(b - a)
    w = m.close_window("w")
    m.stop()
    return w, profile.energy_j(a, b)


STEP = steps([(0, 100.0), (2.0, 300.0), (4.0, 150.0), (6.5, 400.0)], 10.0)
RAMP = ramp(50.0, 450.0, 1.0, 8.0, 10.0)
SPIKES = spikes(100.0, 600.0, every_s=0.5, width_s=0.02, end_s=10.0)


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    out = {}
    for name, prof in {"step": STEP, "ramp": RAMP, "spikes": SPIKES}.items():
        out[name] = (write_profile_trace(tmp_path_factory.mktemp(name), prof), prof)
    return out


@pytest.mark.parametrize("name", ["step", "ramp", "spikes"])
@pytest.mark.parametrize("rate", [10, 100])
def test_counter_windows_are_exact(traces, name, rate):
    path, prof = traces[name]
    w, exact = measure(path, prof, 1.03, 8.77, rate)
    assert w.channels[0].method == "counter"
    assert w.energy_j == pytest.approx(exact, rel=5e-3)
    assert w.clean


@pytest.mark.parametrize("name,rate", [("step", 100), ("ramp", 10), ("ramp", 100)])
def test_integrated_power_resolves_steps_and_ramps(traces, name, rate):
    path, prof = traces[name]
    w, exact = measure(path, prof, 1.03, 8.77, rate, power_only=True)
    assert w.channels[0].method == "integrated_power"
    assert w.energy_j == pytest.approx(exact, rel=5e-3)


def test_spikes_shorter_than_the_period_need_the_counter_or_stratified_reads(traces):
    path, prof = traces["spikes"]
    counter, exact = measure(path, prof, 0.3, 9.3, 10)
    assert counter.energy_j == pytest.approx(exact, rel=5e-3)
    # 20 ms spikes every 0.5 s read every 100 ms on a regular grid: the grid is locked in phase with
    # them and integration misses every one
    locked, _ = measure(path, prof, 0.3, 9.3, 10, power_only=True, polling="regular")
    assert abs(locked.energy_j - exact) / exact > 0.2  # every spike hit (or every one missed)
    # read at a random instant of each period, no phase is favoured: a window's error is random (a spike is
    # hit by one read in five) and averages out over seeds
    errors = [(measure(path, prof, 0.3, 9.3, 10, power_only=True, seed=s)[0].energy_j - exact) / exact
              for s in range(30)]
    mean = sum(errors) / len(errors)
    assert abs(mean) < 0.03 and max(errors) - min(errors) > 0.1


def test_gap_in_polling_is_reported_and_spoils_integrated_energy(traces):
    path, prof = traces["step"]
    clock = SimClock()
    for power_only, clean in ((True, False), (False, True)):
        clock = SimClock()
        m = Meter(ReplaySampler.open("cpu", trace=path, clock=clock, power_only=power_only),
                  rate_hz=10, clock=clock, threaded=False)
        m.start()
        m.open_window("w")
        m.run_for(1.0)
        clock.advance(1.5)  # the sensor did not answer for 1.5 s
        m.run_for(1.0)
        w = m.close_window("w")
        gaps = [i for i in w.issues if i.code == "gap"]
        assert gaps and "longest 1.500 s" in gaps[0].message  # the stall; the next read comes at once
        assert w.channels[0].gaps == 1
        assert w.clean is clean


def run_window(sampler, clock, seconds, rate=10):
    m = Meter([sampler], rate_hz=rate, clock=clock, threaded=False)
    m.start()
    m.open_window("w")
    m.run_for(seconds)
    w = m.close_window("w")
    return m, w


def test_counter_wraparound_is_unwrapped():
    clock = SimClock()
    wrap = 262.0  # J: a small modulus, so a 50 W load wraps several times in 20 s
    s = ScriptedSampler(lambda t: Reading(energy_j=(50.0 * t + 200.0) % wrap), counter_caps(wrap), clock)
    _, w = run_window(s, clock, 20.0)
    # a counter refreshed every 1 ms read every 100 ms: each edge is up to 1 ms old, and the bound says so
    assert w.energy_uncertainty_j <= 50.0 * 0.003
    assert w.energy_j == pytest.approx(50.0 * w.duration_s, abs=w.energy_uncertainty_j)
    assert w.clean and w.channels[0].resets == 0


def test_counter_reset_falls_back_to_power_and_is_flagged():
    clock = SimClock()

    def fn(t):
        e = 100.0 * t if t < 5 else 100.0 * (t - 5)  # driver reload at 5 s: counter restarts at 0
        return Reading(energy_j=1000.0 + e if t < 5 else e, power_w=100.0)

    s = ScriptedSampler(fn, counter_caps(power=PowerKind.INSTANT), clock)
    _, w = run_window(s, clock, 10.0)
    assert w.channels[0].method == "integrated_power"
    assert w.energy_j == pytest.approx(100.0 * w.duration_s, rel=1e-6)
    assert not w.clean
    assert any(i.code == "counter_reset" for i in w.issues)


def test_counter_reset_without_power_gives_no_figure():
    clock = SimClock()
    s = ScriptedSampler(lambda t: Reading(energy_j=100.0 * t if t < 5 else 1.0), counter_caps(), clock)
    _, w = run_window(s, clock, 10.0)
    assert w.energy_j is None and not w.clean


def test_nan_and_negative_readings_are_discarded_and_flagged():
    clock = SimClock()
    caps = Capabilities(energy_counter=False, power=PowerKind.INSTANT, scope=Scope.GPU, update_period_s=0.01)

    def fn(t):
        k = round(t * 10)
        return Reading(power_w=float("nan") if k % 7 == 3 else (-5.0 if k % 11 == 5 else 200.0))

    _, w = run_window(ScriptedSampler(fn, caps, clock), clock, 10.0)
    assert w.energy_j == pytest.approx(200.0 * w.duration_s, rel=1e-6)
    assert not w.clean
    assert any(i.code == "invalid_reading" for i in w.issues)


def test_window_shorter_than_sensor_update_is_flagged():
    clock = SimClock()
    caps = Capabilities(energy_counter=True, power=PowerKind.AVERAGED, scope=Scope.GPU, update_period_s=0.1,
                        power_average_window_s=1.0)
    s = ScriptedSampler(lambda t: Reading(energy_j=300 * t, power_w=300.0), caps, clock)
    _, w = run_window(s, clock, 0.2, rate=100)
    assert any(i.code == "window_too_short" for i in w.issues)
    assert not w.clean


def test_sampler_error_stops_the_meter_and_keeps_the_trace(tmp_path):
    clock = SimClock()

    def fn(t):
        if t > 3.0:
            raise SamplerDeviceLost("GPU is lost")
        return Reading(energy_j=10 * t, power_w=10.0)

    m = Meter([ScriptedSampler(fn, counter_caps(power=PowerKind.INSTANT), clock)], rate_hz=10, clock=clock,
              threaded=False, folder=tmp_path)
    m.start()
    m.open_window("w")
    m.run_for(5.0)
    with pytest.raises(SamplerDeviceLost):
        m.check()
    w = m.close_window("w")
    m.stop()
    assert any(i.code == "sampler_error" for i in w.issues) and not w.clean
    rows = read_trace(tmp_path).num_rows
    assert rows == m.samples and 29 <= rows <= 33


def test_threaded_meter_real_clock(tmp_path):
    caps = Capabilities(energy_counter=False, power=PowerKind.INSTANT, scope=Scope.GPU, update_period_s=0.001)
    start = time.monotonic()

    class Const(ScriptedSampler):
        def read(self):
            return Reading(power_w=50.0)

    m = Meter([Const(None, caps)], rate_hz=100, folder=tmp_path)
    with m:
        m.open_window("w")
        time.sleep(0.5)
        w = m.close_window("w")
    assert w.energy_j == pytest.approx(50.0 * w.duration_s, rel=1e-6)
    assert 0.45 < w.duration_s < 1.0
    assert w.samples >= 25  # ~50 expected at 100 Hz; the machine is shared
    assert time.monotonic() - start < 5
    stats = m.stats()
    assert stats["interval_p50_s"] == pytest.approx(0.01, rel=0.5)


def test_hanging_read_times_out():
    caps = Capabilities(energy_counter=False, power=PowerKind.INSTANT, scope=Scope.GPU, update_period_s=0.001)
    release = threading.Event()

    class Hang(ScriptedSampler):
        calls = 0

        def read(self):
            Hang.calls += 1
            if Hang.calls > 3:
                release.wait(10)
            return Reading(power_w=1.0)

    m = Meter([Hang(None, caps)], rate_hz=50, read_timeout_s=0.5)
    m.start()
    t0 = time.monotonic()
    with pytest.raises(SamplerTimeout):
        m.open_window("w")
        time.sleep(0.3)
        m.close_window("w")
    assert time.monotonic() - t0 < 3
    with pytest.raises(SamplerError):
        m.check()
    release.set()
    m.stop()


def test_stream_trace_survives_truncation(tmp_path):
    """A killed writer leaves a stream whose complete batches still read back."""
    prof = steps([(0, 100.0)], 3.0)
    clock = SimClock()
    src = write_profile_trace(tmp_path / "src", prof, resolution_s=0.01)
    m = Meter(ReplaySampler.open("cpu", trace=src, clock=clock), rate_hz=100, clock=clock, threaded=False,
              folder=tmp_path, flush_s=0.5)
    m.start()
    m.run_for(2.5)
    m.writer.flush()
    written = m.writer.rows
    stream = tmp_path / STREAM_FILE
    size = stream.stat().st_size
    with open(stream, "r+b") as fh:  # simulate a kill in the middle of the last write
        fh.truncate(size - 100)
    rows = sum(b.num_rows for b in iter_batches(stream))
    assert 0 < rows < written
    assert rows >= written - 60  # at most the last batch (0.5 s at 100 Hz) is lost


def test_finalize_keeps_every_row(tmp_path):
    prof = steps([(0, 10.0), (1.0, 20.0)], 2.0)
    clock = SimClock()
    src = write_profile_trace(tmp_path / "src", prof, resolution_s=0.01)
    out = tmp_path / "run"
    out.mkdir()
    m = Meter(ReplaySampler.open("cpu", trace=src, clock=clock), rate_hz=200, clock=clock, threaded=False,
              folder=out)
    m.start()
    m.run_for(1.9)
    m.stop()
    path = finalize(out)
    assert path.name == "trace.parquet" and not (out / STREAM_FILE).exists()
    table = read_trace(out)
    assert table.num_rows == m.samples
    ts = table.column("t_ns").to_pylist()
    assert ts == sorted(ts)
    assert os.path.getsize(path) > 0


weird = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                  st.text(max_size=5), st.booleans())


@FAST
@given(values=st.lists(st.tuples(weird, weird), min_size=1, max_size=40))
def test_meter_survives_any_plugin_output(values):
    """A plugin returning anything at all: the window's energy is finite or None, errors are the tree's."""
    sampler = ScriptedSampler.of_values(values)
    m = Meter([sampler], rate_hz=10, clock=sampler.clock, threaded=False)
    m.start()
    m.open_window("w")
    m.run_for(len(values) / 10)
    w = m.close_window("w")
    if w.energy_j is not None:
        assert math.isfinite(w.energy_j)
    if m.error is not None:
        assert isinstance(m.error, BenchError)


def test_a_held_up_edge_read_is_taken_again_so_the_window_keeps_its_instants():
    """A thread held up inside a read (a busy host) returns a value from the start of the read stamped at its
    middle: on a 400 W load, 120 ms of delay put the closing edge 60 ms off, 24 J short. The edge read is
    taken again promptly, and the window's energy matches its instants."""
    clock = SimClock()
    stall = {"next": False}

    def counter(t: float) -> Reading:
        value = Reading(energy_j=400.0 * t)  # the value at the instant the read starts
        if stall["next"]:
            stall["next"] = False
            clock.sleep(0.120)  # held up before the read returns
        return value

    sampler = ScriptedSampler(counter, counter_caps(update_period_s=0.0), clock=clock)
    m = Meter([sampler], rate_hz=100, clock=clock, threaded=False)
    m.start()
    m.run_for(0.2)
    m.open_window("w")
    m.run_for(0.5)
    stall["next"] = True  # the closing edge's first read is the held-up one
    w = m.close_window("w")
    m.stop()
    assert w.duration_s == pytest.approx(w.energy_j / 400.0, abs=0.002)  # energy and instants agree
    assert w.energy_j == pytest.approx(400.0 * w.duration_s, rel=0.005)
    assert w.duration_s > 0.6  # the window ends at the prompt read, after the held-up one
