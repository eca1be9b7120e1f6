"""Latency of inference workloads: a synchronised phase after the repeats, outside every energy window;
p50/p90/p99 in result.json, `bench show` and the report."""

import time

import pytest

from bench import plugins
from bench.conformance.fake_cuda import FakeCudaDevice, fake_gpus
from bench.conformance.fake_nvml import FakeGpu, FakeNvml
from bench.result.io import load_result
from bench.workload import Workload, WorkloadInfo

QUICK = ["--idle", "0.3", "--duration", "0.4", "--repeats", "2", "--warmup-min", "0.1", "--warmup-max", "0.5",
         "--quiet"]
STEP_S = 0.02  # device time of one step of the asynchronous workload below


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class AsyncGpu(FakeCudaDevice):
    """A GPU whose work is asynchronous: a step only queues it; synchronize() waits until it is done."""

    pending_s = 0.0

    def synchronize(self) -> None:
        busy(type(self).pending_s)
        type(self).pending_s = 0.0


class QueuesWork(Workload):
    name = "queues-work"
    unit = "item"
    presets = {"smoke": {}, "standard": {}}

    def setup(self, device):
        return WorkloadInfo(unit="item", units_per_step=4, flops_per_unit=None, parameters=0, memory_bytes=0)

    def step(self):
        """Queue one step's work and return, like a kernel launch; a full queue (two steps) makes the launch
        wait, as a real launch queue does."""
        AsyncGpu.pending_s += STEP_S
        if AsyncGpu.pending_s > 2 * STEP_S:
            busy(AsyncGpu.pending_s - 2 * STEP_S)
            AsyncGpu.pending_s = 2 * STEP_S


@pytest.fixture
def queued_workload():
    plugins.register("workloads", "queues-work", QueuesWork)
    yield
    plugins.unregister("workloads", "queues-work")


def test_latency_of_an_asynchronous_device_is_timed_to_the_end_of_each_step(cli, tmp_path, queued_workload):
    with fake_gpus(FakeNvml([FakeGpu(power=300.0)]), device_class=AsyncGpu):
        res = cli("run", "--device", "cuda:0", "--workload", "queues-work", *QUICK, "--latency", "0.5",
                  "--out", str(tmp_path), "--name", "lat")
    assert res.code == 0, res.output
    r = load_result(tmp_path / "lat")
    wl = r.workload("queues-work")
    lat = wl.latency
    assert lat.method == "synchronized" and lat.window == "queues-work/latency" and lat.units_per_step == 4
    # each step waits for its own queued work: one step's device time, not a launch's
    assert lat.p50_s == pytest.approx(STEP_S, rel=0.5)
    assert lat.min_s <= lat.p50_s <= lat.p90_s <= lat.p99_s <= lat.max_s
    assert lat.steps >= 10
    # the latency phase is its own window after the repeats: its energy is in no repeat
    names = [w.name for w in r.windows]
    assert names.index("queues-work/latency") > names.index("queues-work/repeat.2")
    assert all(rep.window != "queues-work/latency" for rep in wl.repeats)

    # bench show and the report print the percentiles
    shown = cli("show", str(tmp_path / "lat"))
    assert "latency" in shown.out
    assert f"{lat.p50_s * 1e3:.3g}/{lat.p90_s * 1e3:.3g}/{lat.p99_s * 1e3:.3g}" in shown.out
    assert cli("report", str(tmp_path / "lat"), "-o", str(tmp_path / "r.html")).code == 0
    html = (tmp_path / "r.html").read_text()
    assert "latency ms p50/p99" in html and f"p99 {lat.p99_s * 1e3:.4g}" in html


def test_latency_zero_skips_the_phase_and_training_has_none(cli, tmp_path):
    res = cli("run", "--device", "cpu", "--workload", "gemm", *QUICK, "--latency", "0", "--out", str(tmp_path),
              "--name", "none")
    assert res.code == 0, res.output
    r = load_result(tmp_path / "none")
    assert r.workload("gemm").latency is None and all("/latency" not in w.name for w in r.windows)
    assert r.config["latency_s"] == 0
    bad = cli("run", "--device", "cpu", "--workload", "gemm", "--latency", "-1")
    assert bad.code == 2 and "--latency" in bad.output
