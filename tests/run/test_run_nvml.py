"""`bench run --device cuda:0` through the nvml sampler, with the faithful fake NVML and a fake CUDA device."""

import pytest

from bench.conformance.fake_cuda import fake_gpus
from bench.conformance.fake_nvml import FakeGpu, FakeNvml, Fault, PowerTimeline
from bench.result.io import load_result
from bench.result.trace import read_trace

RUN = ["run", "--device", "cuda:0", "--workload", "gemm", "--preset", "smoke", "--idle", "1",
       "--duration", "0.5", "--repeats", "3", "--warmup-min", "1", "--warmup-max", "8", "--quiet"]


def test_gpu_run_measures_the_gpu_cuda_maps_to(cli, tmp_path, monkeypatch):
    # two GPUs; CUDA sees them in the other order than NVML: cuda:0 is NVML's GPU 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    busy = PowerTimeline.steps([(0, 100.0), (2.5, 400.0), (6.0, 250.0)])
    nvml = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3", power=60.0),
                     FakeGpu("NVIDIA H100 80GB HBM3", power=busy)])
    with fake_gpus(nvml):
        res = cli(*RUN, "--out", str(tmp_path), "--name", "gpu")
    assert res.code == 0, res.err
    r = load_result(tmp_path / "gpu")
    assert r.measurement.sampler == "nvml"
    ch = r.measurement.channels[0]
    assert ch.channel == "cuda:0"
    assert ch.describe["uuid"] == nvml.gpus[1].uuid
    assert ch.capabilities["energy_counter"] is True and ch.capabilities["power"] == "instant"

    def exact(window_name):
        """The fake GPU's true energy over a window (its clock counts from the fake's creation)."""
        w = next(x for x in r.windows if x.name == window_name)
        t0 = (w.t_start_ns - nvml._t0_ns) / 1e9
        t1 = (w.t_end_ns - nvml._t0_ns) / 1e9
        return w, nvml.exact_energy_j(1, t0, t1)

    edge_j = 2 * 0.010 * 400.0  # the counter refreshes every 10 ms: each window edge is that late at most
    w, true_j = exact("idle")
    assert w.energy_j == pytest.approx(true_j, abs=edge_j)
    rep_w = r.workload("gemm")
    for rep in rep_w.repeats:
        w, true_j = exact(rep.window)
        assert rep.gross_energy_j == pytest.approx(true_j, abs=edge_j), (
            f"{rep.window}: {w.duration_s:.4f} s from {(w.t_start_ns - nvml._t0_ns) / 1e9:.4f} s, "
            f"{w.samples} samples, {[(c.method, c.energy_j, c.integrated_energy_j) for c in w.channels]}, "
            f"{[i.message for i in w.issues]}")
        assert rep.net_energy_j == pytest.approx(rep.gross_energy_j - r.idle.power_w * rep.duration_s, rel=1e-9)
    win = next(x for x in r.windows if x.name == "gemm/repeat.1")
    assert win.channels[0].method == "counter"
    assert win.channels[0].integrated_energy_j == pytest.approx(win.energy_j, rel=0.1)
    temps = read_trace(tmp_path / "gpu").column("temperature_c").to_pylist()
    assert set(temps) - {None} == {41.0}


def test_gpu_lost_mid_run_keeps_samples_and_marks_result(cli, tmp_path):
    gpu = FakeGpu("NVIDIA H100 80GB HBM3", power=300.0, faults=[Fault("gpu_lost", after_s=2.5)])
    with fake_gpus(FakeNvml([gpu])):
        res = cli(*RUN, "--out", str(tmp_path), "--name", "lost")
    assert res.code == 1
    r = load_result(tmp_path / "lost")
    assert r.status == "incomplete"
    assert "lost" in r.reason.lower()
    rows = read_trace(tmp_path / "lost").num_rows
    assert rows == r.measurement.samples and rows >= 15
    assert r.idle is not None and r.idle.power_w == pytest.approx(300.0, rel=0.02)


def test_mig_and_other_processes_are_recorded(cli, tmp_path):
    gpu = FakeGpu("NVIDIA H100 80GB HBM3", power=200.0, mig=True, processes=[424242])
    with fake_gpus(FakeNvml([gpu])):
        res = cli(*RUN, "--out", str(tmp_path), "--name", "mig", "--repeats", "1", "--warmup-max", "2")
    assert res.code == 0, res.err
    codes = {i.code for i in load_result(tmp_path / "mig").issues}
    assert {"mig_enabled", "other_processes"} <= codes


def test_pre_volta_gpu_falls_back_to_power(cli, tmp_path):
    nvml = FakeNvml([FakeGpu("Tesla P100-PCIE-16GB", power=150.0)])
    with fake_gpus(nvml):
        res = cli(*RUN, "--out", str(tmp_path), "--name", "p100", "--repeats", "2", "--warmup-max", "2")
    assert res.code == 0, res.err
    r = load_result(tmp_path / "p100")
    assert r.measurement.channels[0].capabilities["energy_counter"] is False
    win = next(x for x in r.windows if x.name == "gemm/repeat.1")
    assert win.channels[0].method == "integrated_power"
    assert win.mean_power_w == pytest.approx(150.0, rel=0.02)


@pytest.mark.parametrize("counter,read_hz", [(False, 20.0), (True, 10.0)], ids=["averaged-only", "with-counter"])
def test_averaged_power_alone_is_read_twice_per_refresh(cli, tmp_path, counter, read_hz):
    # a GPU whose only figure is nvmlDeviceGetPowerUsage (a 1 s mean refreshed every 100 ms): at the 10 Hz asked,
    # reads would leave refreshes unseen, so the run reads at 20 Hz and says so; beside a counter it need not
    gpu = FakeGpu("NVIDIA H100 80GB HBM3", power=PowerTimeline.steps([(0, 100.0), (1.5, 400.0)]),
                  energy_counter=counter, instant_field=False)
    with fake_gpus(FakeNvml([gpu])):
        res = cli("run", "--device", "cuda:0", "--workload", "gemm", "--preset", "smoke", "--idle", "1",
                  "--duration", "1", "--repeats", "1", "--warmup-max", "0", "--rate", "10", "--quiet",
                  "--out", str(tmp_path), "--name", "avg")
    assert res.code == 0, res.err
    r = load_result(tmp_path / "avg")
    assert r.config["rate_hz"] == 10.0 and r.measurement.rate_hz == read_hz
    assert r.measurement.achieved_rate_hz >= 0.85 * read_hz  # (a counter adds a burst of reads after each edge)
    if not counter:
        assert r.measurement.achieved_rate_hz == pytest.approx(read_hz, rel=0.15)
    raised = [i for i in r.issues if i.code == "rate_raised"]
    assert len(raised) == (0 if counter else 1)
    if raised:
        assert raised[0].severity == "info" and "20 Hz, not the 10 Hz asked" in raised[0].message
