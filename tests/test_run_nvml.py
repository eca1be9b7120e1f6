"""`bench run --device cuda:0` through the nvml sampler, with the faithful fake NVML and a fake CUDA device."""

import pyarrow  # noqa: F401 - imported up front so the run's set-up takes well under a second
import pytest
import torch  # noqa: F401

from bench.results import load_result
from bench.testing.fake_cuda import fake_gpus
from bench.testing.fake_nvml import Fault, FakeGpu, FakeNvml, PowerTimeline
from bench.trace import read_trace

RUN = ["run", "--device", "cuda:0", "--workload", "gemm", "--preset", "smoke", "--idle", "1",
       "--duration", "0.5", "--repeats", "3", "--warmup-min", "1", "--warmup-max", "8", "--quiet"]


def test_gpu_run_measures_the_gpu_cuda_maps_to(cli, tmp_path, monkeypatch):
    # two GPUs; CUDA sees them in the other order than NVML: cuda:0 is NVML's GPU 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    busy = PowerTimeline.steps([(0, 100.0), (4.0, 400.0)])  # the idle baseline ends by ~1.5 s
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
    assert r.idle.power_w == pytest.approx(100.0, rel=0.02)
    w = r.workload("gemm")
    assert w.warmup["steady"] is True
    for rep in w.repeats:
        assert rep.mean_power_w == pytest.approx(400.0, rel=0.02)
        assert rep.net_energy_j == pytest.approx(300.0 * rep.duration_s, rel=0.03)
    win = next(x for x in r.windows if x.name == "gemm/repeat.1")
    assert win.channels[0].method == "counter"
    assert win.channels[0].integrated_energy_j == pytest.approx(win.energy_j, rel=0.05)
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
