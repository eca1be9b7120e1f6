"""Short windows back to back on a coarse counter: ``end_window`` returns once the closing edge is read, and the
window's figures come when its edges are placed on the counter's later refreshes (an H200's every 100 ms)."""

import math
import time

import pytest

import bench
from bench.clock import SimClock
from bench.conformance.fake_cuda import fake_gpus
from bench.conformance.fake_nvml import H200_AS_MEASURED, FakeGpu, FakeNvml, PowerTimeline
from bench.meter.meter import Meter
from bench.meter.protocol import NullMeter
from bench.result.io import load_result
from bench.samplers.base import Reading
from tests.doubles import ScriptedSampler, counter_caps


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def h200():
    return FakeNvml([FakeGpu("NVIDIA H200", power=PowerTimeline.steps([(0, 300.0)]), **H200_AS_MEASURED)])


def test_short_windows_do_not_wait_for_the_counter(tmp_path):
    nvml = h200()
    with fake_gpus(nvml):
        with bench.measure("cuda:0", out=tmp_path, name="s", idle_s=1.2, rate_hz=50.0) as s:
            with s.window("warm"):  # enough refreshes seen to know the counter's period
                busy(0.3)
            assert s.windows["warm"].last.window.channels[0].method == "counter"
            t0 = time.perf_counter()
            steps = []
            for _ in range(8):
                s.begin_window("step", sync=False)
                busy(0.004)
                steps.append(s.end_window("step", sync=False))
            took = time.perf_counter() - t0
            # placing an edge on a 100 ms counter takes its next refreshes: 8 closes that waited would take
            # over 0.8 s; these came back as soon as their closing edge was read
            assert took < 0.4, took
            assert not steps[-1].ready
            assert [m.index for m in steps] == list(range(1, 9))
            energies = [m.energy_j for m in steps]  # asking waits for the placement, in the order they ended
            assert all(m.ready for m in steps)
            assert not any(ch.pending for ch in s.runner.meter._states)  # every edge placed, none left waiting
            for m, e in zip(steps, energies):
                assert e == pytest.approx(300.0 * m.time_s, abs=m.window.energy_uncertainty_j + 0.05)
                assert m.window.energy_uncertainty_j < 300.0 * 0.1  # placed: far under a whole refresh of power
            assert s.windows["step"].count == 8 and s.windows["step"].energy_j == pytest.approx(sum(energies))
        res = load_result(tmp_path / "s" / "result.json")
    wr = next(w for w in res.workloads if w.workload == "step")
    assert [r.index for r in wr.repeats] == list(range(1, 9))
    assert [r.gross_energy_j for r in wr.repeats] == pytest.approx(energies)


def test_the_session_ends_with_every_window_brought_in(tmp_path):
    with fake_gpus(h200()):
        s = bench.measure("cuda:0", out=tmp_path, name="s", idle_s=1.2, rate_hz=50.0).start()
        for _ in range(3):
            with s.window("step"):
                busy(0.01)
        pending = [m for m in s.named["step"].occurrences if not m.ready]
        res = s.close()  # waits for the last placements, then seals
    assert pending  # some were still being placed when the session was closed
    wr = next(w for w in res.workloads if w.workload == "step")
    assert len(wr.repeats) == 3 and all(r.gross_energy_j > 0 for r in wr.repeats)


def test_close_later_unthreaded_and_on_a_null_meter():
    clock = SimClock()
    s = ScriptedSampler(lambda t: Reading(energy_j=100.0 * t), counter_caps(), clock)
    m = Meter([s], rate_hz=10, clock=clock, threaded=False)
    m.start()
    m.open_window("w")
    m.run_for(1.0)
    done = m.close_window_later("w")
    window = done.result(timeout=0)  # placed before it returned
    assert window.energy_j == pytest.approx(100.0 * window.duration_s, rel=1e-2) and window.duration_s >= 1.0
    assert NullMeter().close_window_later("x").result() is None


def test_a_window_never_placed_fails_alone_with_one_error(tmp_path):
    from concurrent.futures import Future

    from bench.errors import SamplerTimeout

    s = bench.measure("cpu", out=tmp_path, name="s", idle_s=0, rate_hz=10.0, read_timeout_s=1.0).start()
    with s.window("ok"):  # long enough for the estimate to have power at two reads or more, from a cold start
        busy(0.35)
    s.runner.meter.close_window_later = lambda name: Future()  # a meter that never hands the window over
    s.begin_window("ok")
    stuck = s.end_window("ok")
    assert not stuck.ready
    t0 = time.monotonic()
    with pytest.raises(SamplerTimeout, match="did not place"):
        stuck.energy_j  # noqa: B018  (asking waits, up to the read timeout)
    assert time.monotonic() - t0 < 5.0 and stuck.ready and isinstance(stuck.error, SamplerTimeout)
    named = s.windows["ok"]
    assert named.count == 2 and named.energy_j == named.occurrences[0].energy_j > 0  # the failed one left out
    res = s.close()
    assert res.status == "incomplete" and "did not place" in (res.reason or "")
    assert [i.code for i in res.issues].count("window_failed") == 1
    wr = next(w for w in res.workloads if w.workload == "ok")
    assert len(wr.repeats) == 1  # the first occurrence is kept


def test_on_a_simulated_clock_the_close_places_the_window_before_returning():
    """Only a close moves a simulated clock while the caller waits: handing the window over later would leave it
    waiting on a clock nobody moves."""
    clock = SimClock()
    s = ScriptedSampler(lambda t: Reading(energy_j=round(300.0 * math.floor(t / 0.1) * 0.1, 3)),
                        counter_caps(update_period_s=0.1), clock)
    m = Meter([s], rate_hz=50, clock=clock)  # threaded: its thread reads as the clock passes each read's time
    m.start()
    try:
        m.open_window("w")
        for _ in range(150):  # 3 s of the simulated clock, a read due at every step
            clock.advance(0.02)
            deadline = time.monotonic() + 1.0
            while m.stats()["polls"] and m.schedule.next_ns <= clock.now_ns() and time.monotonic() < deadline:
                time.sleep(0.0005)
        assert m.channels[0].stairs.period_ns() == pytest.approx(1e8, rel=0.05)  # the counter's refreshes located
        done = m.close_window_later("w")
        assert done.done()  # placed on the next refreshes, the clock moved by the close itself
        window = done.result(timeout=0)
        assert window.channels[0].edges is not None and window.energy_j == pytest.approx(300.0 * window.duration_s,
                                                                                         rel=0.01)
    finally:
        m.stop()
