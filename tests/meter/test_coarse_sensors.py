"""Coarse sensors through the meter: counter edges placed on located refreshes, averaged power with its lag
corrected, stratified reads. The fake NVML on a simulated clock is the sensor; its true energy is exact."""

import random

import pytest

from bench.analysis.validity import counter_vs_power
from bench.clock import SimClock
from bench.conformance.fake_nvml import H200_AS_MEASURED, FakeGpu, FakeNvml, PowerTimeline
from bench.meter.lag import AverageInverter
from bench.meter.meter import Meter
from bench.meter.refresh import Staircase, edge_energy, fit_grid, local_grid, split_block
from bench.meter.schedule import PollSchedule
from bench.result.trace import trace_metadata
from bench.samplers.nvml import NvmlSampler

H100 = "NVIDIA H100 80GB HBM3"
STEPS = PowerTimeline.steps([(0, 120.0), (5, 700.0), (15, 300.0), (25, 650.0), (40, 120.0)])
RAMP = PowerTimeline([(0, 150.0), (4, 150.0), (24, 650.0), (30, 650.0)])


def measure(gpu, windows, rate_hz=100, power="auto", polling="stratified", seed=1, folder=None, held_up=None):
    """Windows [(a, b), ...] (s after the fake driver loaded) through the nvml sampler: (window, true J) each.
    ``held_up``: a function giving how long (s) the host holds the meter's thread before each read."""
    clock = SimClock()
    nvml = FakeNvml([gpu], clock)
    out = []
    with nvml.installed():
        meter = Meter(NvmlSampler.open("cuda:0", clock=clock, power=power), rate_hz=rate_hz, clock=clock,
                      threaded=False, polling=polling, seed=seed, folder=folder)
        if held_up is not None:
            read = meter._scheduled_read

            def late_read():
                clock.sleep(held_up())
                read()

            meter._scheduled_read = late_read
        meter.start()
        for k, (a, b) in enumerate(windows):
            meter.run_for(a - nvml.now_s())
            meter.open_window(f"w{k}")
            meter.run_for(b - nvml.now_s())
            w = meter.close_window(f"w{k}")
            t0, t1 = ((t - nvml._t0_ns) / 1e9 for t in (w.t_start_ns, w.t_end_ns))
            out.append((w, nvml.exact_energy_j(0, t0, t1)))
        meter.stop()
    return out


# --- counters that refresh every 10-100 ms ------------------------------------------------------------------


@pytest.mark.parametrize("timing,bound", [({"energy_phase_s": 0.0093}, 0.01), (H200_AS_MEASURED, 0.02)],
                         ids=["10ms", "h200-100ms"])
def test_counter_edges_are_placed_to_well_under_a_refresh(timing, bound):
    # edges on steps, a millisecond before a refresh: read as it is, each edge would be most of a refresh old
    gpu = FakeGpu(H100, power=STEPS, **timing)
    windows = [(5.0, 6.0), (15.0, 16.0), (24.0, 25.0), (25.0, 35.0), (7.3, 8.3)]
    for w, exact in measure(gpu, sorted(windows)):
        ch = w.channels[0]
        assert ch.method == "counter" and ch.edges == "located"
        assert abs(w.energy_j - exact) / exact < 0.002  # 1 s windows: 0.6-1.9% (10 ms) or ~10% (100 ms) as read
        assert abs(w.energy_j - exact) <= w.energy_uncertainty_j  # and the bound holds
        assert w.energy_uncertainty_j / exact < bound  # a step at an edge: the bound assumes no more about it


def test_counter_read_slower_than_it_refreshes_is_placed_by_a_burst_after_the_edge():
    # 10 Hz reads of a 10 ms counter cannot locate its refreshes; a burst of reads after each edge does
    gpu = FakeGpu(H100, power=STEPS, energy_phase_s=0.0031)
    for w, exact in measure(gpu, [(5.0, 6.0), (15.0, 25.0)], rate_hz=10):
        assert w.channels[0].edges == "located"
        assert abs(w.energy_j - exact) / exact < 0.003
        assert abs(w.energy_j - exact) <= w.energy_uncertainty_j


def test_reads_held_up_by_a_busy_host_do_not_fake_a_slow_refresh():
    # 10 Hz reads of a 10 ms counter on a host that holds the meter's thread up to 90 ms now and then: two reads
    # bunched together see no change between them, so the scheduled reads no longer change every time and their
    # spacing alone suggests a refresh of ~90 ms. The bursts after the edges show two refreshes within ~12 ms:
    # the period cannot be that long, and the edges must not be placed on such a grid.
    rng = random.Random(4)
    gpu = FakeGpu(H100, power=STEPS, energy_phase_s=0.0031)

    def held_up():
        return rng.uniform(0.0, 0.09) if rng.random() < 0.35 else 0.0

    windows = [(5.0 + 0.6 * k, 5.5 + 0.6 * k) for k in range(12)] + [(15.0 + 0.6 * k, 15.5 + 0.6 * k)
                                                                       for k in range(12)]
    for w, exact in measure(gpu, windows, rate_hz=10, held_up=held_up):
        assert abs(w.energy_j - exact) <= max(w.energy_uncertainty_j, 0.004 * exact), (w.name, w.energy_j, exact)
        assert abs(w.energy_j - exact) < 0.02 * exact, (w.name, w.energy_j, exact)  # ~9 ms at 700 W


def test_a_period_two_close_changes_contradict_is_not_believed():
    stairs = Staircase()
    t, v = 0, 0.0
    rng = random.Random(2)
    for k in range(60):  # 10 Hz reads of a 10 ms counter, a third of them bunched behind the one before
        t += int(3e6) if rng.random() < 0.35 else int(100e6)
        v = float(t // int(10e6))
        stairs.feed(t, v)
    assert stairs.period_ns() is not None and stairs.period_ns() > 50e6  # spacing alone: a long refresh
    for dt in (1e6, 2e6, 9e6, 10e6, 12e6):  # a burst: changes 10 ms apart, each bracketed within 1-3 ms
        t += int(dt)
        stairs.feed(t, float(t // int(10e6)), burst=True)
    assert stairs.period_ns() is None


def test_counter_is_checked_against_averaged_power_where_the_instant_field_samples_the_load():
    # a 20 ms spike every second, in step with the instant field's 100 ms refresh: the field catches every spike,
    # so its integral is ~19% high however long the window. The 1 s average NVML gives beside it in the same
    # field-values call covers all of the time: lag corrected, it agrees with the (correct) counter
    spikes = PowerTimeline.steps([(0, 200.0)] + [p for k in range(1, 40) for p in ((k + 0.5, 700.0),
                                                                                  (k + 0.52, 200.0))])
    gpu = FakeGpu(H100, power=spikes)
    (w, exact), (short, _) = measure(gpu, [(3.0, 15.0), (16.0, 19.0)])
    ch = w.channels[0]
    assert ch.method == "counter" and abs(w.energy_j - exact) / exact < 0.002
    assert ch.power_correction in ("inverted", "half_window_shift")
    assert abs(ch.integrated_energy_j - exact) / exact < 0.01
    caps = {ch.channel: {"power": "instant", "energy_tolerance": 0.05, "update_period_s": 0.01,
                         "power_update_period_s": 0.1, "check_power_average_window_s": 1.0}}
    (check,) = counter_vs_power([w], caps)
    assert check.ok and check.value < 0.01, check.detail
    # under CHECK_MIN_WINDOWS (4) averaging windows the check figure is not used (nor waited for): the instant
    # integral stays
    assert short.channels[0].power_correction is None
    assert short.channels[0].integrated_energy_j > 1.1 * short.energy_j  # (each spike caught: the field's bias)


def test_a_refresh_the_reads_after_an_edge_rule_out_is_not_placed_after_it():
    # 10 Hz reads of a 10 ms counter drawing 720 W; the edge read (at 0) saw a new value, then no change until
    # a burst read at +9.71 ms, and one by +10.71 ms. Located from the burst, the grid's refresh nearest the
    # edge is at +0.21 +- 1 ms: inside the quiet span after the edge, so it was the one the edge read saw (at or
    # just before the edge), not the one 10 ms earlier that the wide bracket before the edge also holds
    t = 10_000_000_000
    ms = 1_000_000
    events = [(t - 225_490_000, t - 185_700_000, 1000.0), (t - 185_700_000, t - 36_850_000, 1030.0),
              (t - 36_850_000, t, 1043.2), (t + 9_710_000, t + 10_710_000, 1050.4),
              (t + 19_710_000, t + 20_710_000, 1057.6)]
    grid = local_grid(events, t, 5 * ms, 10 * ms)
    assert grid is not None and grid.period_ns == 10 * ms
    found = edge_energy(events, t, grid, grid.period_ns, 1043.2)
    assert found.how == "located" and abs(found.extra_j) <= found.bound_j and abs(found.extra_j) < 0.75  # < 1 ms


# --- averaged power -----------------------------------------------------------------------------------------


def averaged_gpu(power):
    """An H100 whose only figure is nvmlDeviceGetPowerUsage, a 1 s mean refreshed every 100 ms."""
    return FakeGpu(H100, power=power, energy_counter=False, instant_field=False)


@pytest.mark.parametrize("rate", [100, 1000])
def test_averaged_power_lag_is_corrected_on_steps_and_ramps(rate):
    on_steps = measure(averaged_gpu(STEPS), [(5.0, 15.0), (15.5, 25.5), (26.0, 40.0)], rate_hz=rate)
    ramps = measure(averaged_gpu(RAMP), [(6.0, 16.0), (16.5, 28.0)], rate_hz=rate)
    for w, exact in on_steps + ramps:
        ch = w.channels[0]
        assert ch.method == "integrated_power" and ch.power_correction in ("inverted", "half_window_shift")
        assert abs(w.energy_j - exact) / exact < 0.005  # uncorrected: 2-6% off on these windows
        assert abs(w.energy_j - exact) <= w.energy_uncertainty_j + 2e-5 * exact  # + mW readings, rebuilt
        assert w.clean
    assert on_steps[0][0].channels[0].power_correction == "inverted"  # a step at an edge needs the inversion


def test_short_averaged_power_window_is_not_clean_and_says_why():
    (w, exact), = measure(averaged_gpu(STEPS), [(20.0, 25.0)])
    assert not w.clean
    issue = next(i for i in w.issues if i.code == "averaged_power")
    assert "averaged over 1 s" in issue.message and "10 s" in issue.message


def test_half_window_shift_where_reads_cannot_see_every_refresh():
    # 4 Hz regular reads of a 100 ms refresh: the average cannot be inverted; shifted by half its window
    (w, exact), = measure(averaged_gpu(RAMP), [(6.0, 26.0)], rate_hz=4, polling="regular")
    ch = w.channels[0]
    assert ch.power_correction == "half_window_shift"
    assert abs(w.energy_j - exact) / exact < 0.01
    assert abs(w.energy_j - exact) <= w.energy_uncertainty_j


def test_counter_and_lag_corrected_power_agree():
    gpu = FakeGpu(H100, power=STEPS, instant_field=False)  # counter + averaged power usage
    for w, exact in measure(gpu, [(5.0, 15.0), (15.5, 25.5), (26.0, 40.0)]):
        ch = w.channels[0]
        assert ch.method == "counter" and ch.power_correction is not None
        assert abs(ch.integrated_energy_j - ch.energy_j) / ch.energy_j < 0.005


def test_inverter_rebuilds_the_energy_of_every_refresh():
    clock = SimClock()
    gpu = averaged_gpu(STEPS)
    nvml = FakeNvml([gpu], clock)
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    inv = AverageInverter(1.0, 0.1)
    rng = random.Random(3)
    while nvml.now_s() < 45:
        clock.advance(rng.random() * 0.02)
        inv.feed(clock.now_ns(), nvml.nvmlDeviceGetPowerUsage(handle) / 1000)
    points = [((lo - nvml._t0_ns) / 1e9, e) for lo, _, e in inv.virtual][-300:]
    for (t0, e0), (t1, e1) in zip(points[::10], points[10::10]):
        near_step = any(t0 - 1.1 < step < t1 + 0.1 for step in (5, 15, 25, 40))
        # a point is placed within a few ms of its refresh: near a step that moves a few J
        assert e1 - e0 == pytest.approx(STEPS.energy_j(t0, t1), abs=2.0 if near_step else 0.05)


# --- the pieces ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slot_ns,tight_ns", [(10e6, None), (1e6, 0.2e6)], ids=["100Hz", "1000Hz"])
def test_grid_is_fitted_from_brackets_and_states_its_uncertainty(slot_ns, tight_ns):
    rng = random.Random(0)
    period, phase = 10.037e6, 3.3e6  # the sensor's clock is not the host's
    stairs = Staircase()
    for slot in range(int(2e9 / slot_ns)):  # stratified reads of a counter
        t = int((slot + rng.random()) * slot_ns)
        stairs.feed(t, float((t - phase) // period))
    at = 1.5e9
    grid = fit_grid(list(stairs.events), stairs.period_ns() or None, at)
    assert grid is not None
    k = round((grid.phase_ns - phase) / period)
    error = abs(grid.phase_ns - phase - k * period)
    assert error <= grid.u_ns  # the stated uncertainty covers the phase
    r, u = grid.instant(at - 5e6, at + 5e6)
    assert abs(r - (phase + ((at + 5e6 - phase) // period) * period)) <= max(u, 1e3)
    if tight_ns is not None:
        assert error < tight_ns and grid.u_ns < 2 * tight_ns
        assert grid.period_ns == pytest.approx(period, rel=1e-4)


def test_block_split_is_exact_for_a_step_at_the_edge_and_for_steady_power():
    # a 10 ms block: 100 W before the edge (at 30% of it), 500 W after; neighbours at those levels
    assert split_block(100.0, 0.3 * 100 + 0.7 * 500, 500.0, 0.3) == pytest.approx(0.3 * 100 / 380)
    assert split_block(200.0, 200.0, 200.0, 0.45) == pytest.approx(0.45)
    # a burst inside the block (its mean above both neighbours): power taken as even across the block
    assert split_block(100.0, 400.0, 100.0, 0.5) == pytest.approx(0.5)


def test_stratified_schedule_keeps_the_rate_and_no_phase():
    sched = PollSchedule(10_000_000, "stratified", seed=7)
    times = [sched.start(0)]
    for _ in range(20000):
        times.append(sched.advance(times[-1]))
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert 0 <= min(gaps) and max(gaps) < 20_000_000
    assert (times[-1] - times[0]) / len(gaps) == pytest.approx(10_000_000, rel=0.01)
    phases = [t % 10_000_000 for t in times]
    assert min(phases) < 500_000 and max(phases) > 9_500_000  # every instant of the period is used
    again = PollSchedule(10_000_000, "stratified", seed=7)
    assert [again.start(0)] + [again.advance(t) for t in times[:5]] == times[:6]
    regular = PollSchedule(10_000_000, "regular")
    assert [regular.start(0), regular.advance(10_000_000)] == [10_000_000, 20_000_000]
    with pytest.raises(ValueError, match="polling"):
        PollSchedule(10_000_000, "random")


def test_trace_records_how_reads_were_timed(tmp_path):
    measure(FakeGpu(H100, power=300.0), [(1.0, 2.0)], folder=tmp_path, seed=1234)
    from bench.result.trace import finalize

    meta = trace_metadata(finalize(tmp_path))
    assert meta["polling"] == {"mode": "stratified", "seed": 1234, "period_ns": 10_000_000}
