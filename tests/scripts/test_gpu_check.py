"""The GPU check's logic against the fake NVML on a simulated clock (the real run needs an NVIDIA GPU)."""

import importlib.util
import json
import sys

import pytest

from bench.clock import SimClock
from bench.conformance.fake_nvml import H200_AS_MEASURED, FakeGpu, FakeNvml, PowerTimeline
from bench.result.trace import read_trace, trace_metadata
from tests import ROOT


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses resolve their annotations through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("gpu_check", None)


def fake_rig(gpu_check, timing):
    # idle, a GEMM step, two 20 ms bursts, then GEMM from 9 s on (the windows of steps 2 and 3)
    power = PowerTimeline.steps([(0, 120.0), (1.0, 700.0), (3.0, 120.0), (5.0, 690.0), (5.02, 120.0),
                                 (5.5, 690.0), (5.52, 120.0), (9.0, 650.0)])
    clock = SimClock()
    nvml = FakeNvml([FakeGpu("NVIDIA H200", power=power, **timing)], clock)
    gpu = nvml.gpus[0]
    nvml.nvmlInit()  # as the check's main() does
    rig = gpu_check.Rig(nvml, clock=clock, identity={"uuid": gpu.uuid, "pci_bus_id": gpu.pci_bus_id})
    return nvml, rig


@pytest.mark.parametrize("timing,counter_ms", [({}, 10.0), (H200_AS_MEASURED, 100.0)], ids=["10ms", "h200"])
def test_gpu_check_passes_on_a_faithful_fake(gpu_check, tmp_path, timing, counter_ms):
    nvml, rig = fake_rig(gpu_check, timing)
    with nvml.installed():
        report = gpu_check.run_checks(rig, tmp_path, quick=True, pytest_gpu=False, runs=False)
    assert report["ok"], json.dumps(report, indent=1, default=str)
    sources = report["sources"]
    assert sources["counter_refresh_ms"] == pytest.approx(counter_ms, rel=0.02)
    assert sources["usage_refresh_ms"] == pytest.approx(1000 * nvml.gpus[0].power_update_s, rel=0.02)
    hand = report["hand_vs_window"]
    assert abs(hand["relative_difference"]) < 0.005 and hand["edges"] == "located"
    usage, instant = report["counter_vs_power"]
    assert usage["power_kind"] == "averaged" and instant["power_kind"] == "instant"
    assert all(c["ok"] and c["check"] == "counter_vs_power" for c in usage["checks"] + instant["checks"])
    assert usage["windows"][0]["correction"] in ("inverted", "half_window_shift")
    # beside the instant field, the 1 s average from the same field-values call is what checks the counter
    assert instant["check_figure"] is True and usage["check_figure"] is False
    assert instant["windows"][0]["correction"] in ("inverted", "half_window_shift")
    # everything under the folder given: the figures, the table, the trace of every source
    assert json.loads((tmp_path / "gpu-check.json").read_text())["ok"] is True
    assert "counter by hand vs window" in (tmp_path / "gpu-check.md").read_text()
    trace = tmp_path / "traces" / "nvml-sources"
    table = read_trace(trace)
    assert set(table.column("channel").to_pylist()) == {"nvml:counter", "nvml:usage", "nvml:instant"}
    meta = trace_metadata(trace / "trace.parquet")
    assert meta["recorded"]["gpu"] == "NVIDIA H200" and meta["channels"]["nvml:usage"]["power"] == "averaged"


def test_gpu_check_fails_a_counter_that_disagrees(gpu_check, tmp_path):
    nvml, rig = fake_rig(gpu_check, {})
    real = nvml.nvmlDeviceGetTotalEnergyConsumption
    # a counter that runs 8% fast: read by hand and through the harness alike, but power disagrees with it
    nvml.nvmlDeviceGetTotalEnergyConsumption = lambda h: int(real(h) * 1.08)
    with nvml.installed():
        report = gpu_check.run_checks(rig, tmp_path, quick=True, pytest_gpu=False, runs=False)
    assert not report["ok"]
    assert report["hand_vs_window"]["ok"]  # the harness reads the counter faithfully...
    assert not all(c["ok"] for c in report["counter_vs_power"])  # ...and the power cross-check catches it


def test_a_step_that_breaks_is_reported_and_the_others_still_run(gpu_check, tmp_path, monkeypatch):
    nvml, rig = fake_rig(gpu_check, {})

    def broken(*args, **kwargs):
        raise RuntimeError("NVML went away")

    monkeypatch.setattr(gpu_check, "record_sources", broken)
    with nvml.installed():
        report = gpu_check.run_checks(rig, tmp_path, quick=True, pytest_gpu=False, runs=False)
    assert not report["ok"] and report["sources"]["error"] == "RuntimeError: NVML went away"
    assert report["hand_vs_window"]["ok"] and all(c["ok"] for c in report["counter_vs_power"])
    assert "| sources | RuntimeError: NVML went away | FAIL |" in (tmp_path / "gpu-check.md").read_text()
