"""Readings between edges are kept and fed in batches: the per-poll path is a read and an append, and a window
measures exactly what it measured reading by reading."""

import pytest

import bench.meter.meter as meter_module
from bench.clock import SimClock
from bench.meter.meter import DRAIN_READINGS, Meter
from bench.result.trace import finalize, read_trace
from bench.samplers.base import Capabilities, PowerKind, Reading, Scope
from tests.doubles import ScriptedSampler, counter_caps
from tests.meter.test_meter import measure, traces  # noqa: F401  (the module's trace fixture)

INSTANT = Capabilities(energy_counter=False, power=PowerKind.INSTANT, scope=Scope.GPU, update_period_s=0.001)


def power_meter(tmp_path, clock, flush_s=100.0):
    sampler = ScriptedSampler(lambda t: Reading(power_w=100.0 + 50.0 * t), INSTANT, clock)
    return Meter([sampler], rate_hz=10, clock=clock, threaded=False, folder=tmp_path, flush_s=flush_s)


def test_reads_between_edges_are_kept_not_fed(tmp_path):
    clock = SimClock()
    m = power_meter(tmp_path, clock)
    m.start()
    m.open_window("w")  # an edge: fed at once
    fed = m.writer.pending
    for _ in range(5):
        m._sleep_to_next()
    assert m.samples == fed + 5  # read and counted...
    assert len(m._pending) == 5 and m.writer.pending == fed  # ...but neither in the trace nor in the window yet
    w = m.close_window("w")  # the closing edge feeds them first, in the order they were read
    assert not m._pending and m.writer.pending == m.samples
    a, b = w.t_start_ns / 1e9, w.t_end_ns / 1e9  # a linear power: integration of its reads is exact
    assert w.samples == 7 and w.energy_j == pytest.approx(100.0 * (b - a) + 25.0 * (b * b - a * a), rel=1e-9)
    m.stop()
    assert read_trace(finalize(tmp_path).parent).num_rows == m.samples  # nothing read is lost at the end


def test_a_batch_is_fed_at_every_flush_and_every_drain_size(tmp_path):
    clock = SimClock()
    m = power_meter(tmp_path, clock, flush_s=1.0)
    m.start()
    m.run_for(1.05)  # run_for hands back a meter with every reading fed
    assert not m._pending and m.writer.rows + m.writer.pending == m.samples
    for _ in range(5):
        m._sleep_to_next()
    assert len(m._pending) == 5
    m.run_for(1.0)  # a flush falls in this second: what was read before it is on disk
    assert m.writer.rows >= 10 + 5
    fast = Meter([ScriptedSampler(lambda t: Reading(power_w=7.0), INSTANT, clock)], rate_hz=1000, clock=clock,
                 threaded=False, flush_s=100.0)
    fast.start()
    for _ in range(DRAIN_READINGS + 3):
        fast._sleep_to_next()
    assert fast.samples == DRAIN_READINGS + 4  # with the read at start
    assert len(fast._pending) == 4  # fed every DRAIN_READINGS readings whatever the flush interval


@pytest.mark.parametrize("name,power_only,rate", [("step", True, 100), ("spikes", True, 10), ("ramp", False, 10),
                                                  ("spikes", False, 100)])
def test_batched_windows_equal_windows_fed_reading_by_reading(traces, monkeypatch, name,  # noqa: F811
                                                               power_only, rate):
    path, prof = traces[name]
    batched, _ = measure(path, prof, 1.03, 8.77, rate, power_only=power_only)
    monkeypatch.setattr(meter_module, "DRAIN_READINGS", 1)  # fed after every poll
    one_by_one, _ = measure(path, prof, 1.03, 8.77, rate, power_only=power_only)
    assert batched.energy_j == one_by_one.energy_j
    assert batched.model_dump() == one_by_one.model_dump()


def test_a_counter_window_being_closed_is_fed_read_by_read(tmp_path):
    """A closing window waits on the counter's next refreshes: those reads are fed as they come."""
    clock = SimClock()
    s = ScriptedSampler(lambda t: Reading(energy_j=round(100.0 * t, 1)), counter_caps(update_period_s=0.1), clock)
    m = Meter([s], rate_hz=10, clock=clock, threaded=False, folder=tmp_path)
    m.start()
    m.run_for(1.0)
    m.open_window("w")
    m.run_for(2.0)
    w = m.close_window("w")
    assert w.energy_j == pytest.approx(200.0, rel=0.01)
    assert not m._pending
